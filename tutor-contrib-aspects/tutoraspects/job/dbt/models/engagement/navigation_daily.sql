{#-
  Navigation per course per day and kind: next / previous unit, a unit chosen from the
  sequence tabs, an outline entry, a link.
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["org", "course_key", "navigation_date"],
        engine="MergeTree()",
        order_by="(org, course_key, navigation_date, navigation_type)",
    )
}}

with
    touched_days as (
        {% call touched(["toDate(emission_time) as navigation_date"]) %}
            verb_id = {{ verb("navigated") }}
        {% endcall %}
    ),

    -- Copies of a replayed statement need no removing: only distinct values are counted.
    navigations as (
        select
            event_id,
            org,
            course_key,
            toDate(emission_time) as navigation_date,
            navigation_type,
            actor_id
        from {{ ref("xapi_events_parsed") }}
        where
            verb_id = {{ verb("navigated") }}
            and (org, course_key, toDate(emission_time)) in (
                select org, course_key, navigation_date from touched_days
            )
    ),

    daily as (
        select
            org,
            course_key,
            navigation_date,
            navigation_type,
            uniqExact(event_id) as navigations,
            uniqExact(actor_id) as learners
        from navigations
        group by org, course_key, navigation_date, navigation_type
    )

select daily.*, touched_days.last_loaded_at as last_loaded_at
from daily
inner join touched_days using (org, course_key, navigation_date)
