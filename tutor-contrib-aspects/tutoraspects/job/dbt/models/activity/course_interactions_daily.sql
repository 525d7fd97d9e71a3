{#-
  Learning activity per course, day and kind: how many statements learners sent (each
  statement once, however often it was replayed) and how many learners sent them. What is
  activity: see the is_learning_activity macro. The kind, first that applies: forum (a
  thread or reply), page (a navigation), completion (a block's progress), problem or video
  (the block the statement is about), other.
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["org", "course_key", "interaction_date"],
        engine="MergeTree()",
        order_by="(org, course_key, interaction_date, interaction_kind)",
    )
}}

with
    touched_days as (
        {% call touched(["toDate(emission_time) as interaction_date"]) %}
            actor_id != ''
            and {{ is_learning_activity() }}
        {% endcall %}
    ),

    interactions as (
        select
            event_id,
            org,
            course_key,
            toDate(emission_time) as interaction_date,
            actor_id,
            toLowCardinality(
                multiIf(
                    forum_post_type != '', 'forum',
                    verb_id = {{ verb("navigated") }}, 'page',
                    verb_id = {{ verb("progressed") }}, 'completion',
                    block_type = 'problem', 'problem',
                    block_type = 'video', 'video',
                    'other'
                )
            ) as interaction_kind
        from {{ ref("xapi_events_parsed") }}
        where
            actor_id != ''
            and {{ is_learning_activity() }}
            and (org, course_key, toDate(emission_time)) in (
                select org, course_key, interaction_date from touched_days
            )
    ),

    daily as (
        select
            org,
            course_key,
            interaction_date,
            interaction_kind,
            uniqExact(event_id) as interactions,
            uniqExact(actor_id) as learners
        from interactions
        group by org, course_key, interaction_date, interaction_kind
    )

select daily.*, touched_days.last_loaded_at as last_loaded_at
from daily
inner join touched_days using (org, course_key, interaction_date)
