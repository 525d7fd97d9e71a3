{#-
  Each learner's latest grade in each graded subsection (edx.grades.subsection.grade_calculated,
  an earned statement about the subsection).

  The platform sends the subsection's whole grade again whenever it recomputes it: the latest
  calculation (by emission time; at the same instant, the higher grade) replaces the others, it
  never adds to them. Points are the weighted totals event-routing-backends sends as the
  score's raw and max. A CCX's grades count towards its master course's subsection.
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["org", "course_key", "actor_id"],
        engine="MergeTree()",
        order_by="(org, course_key, subsection_id, actor_id)",
    )
}}

with
    touched_learners as (
        {% call touched(["actor_id"]) %}
            verb_id = {{ verb("earned") }}
            and block_type = 'sequential'
        {% endcall %}
    ),

    -- Copies of a replayed statement need no removing: latest values and a distinct count.
    calculations as (
        select
            event_id,
            org,
            course_key,
            actor_id,
            block_id as subsection_id,
            ccx_course_key,
            emission_time,
            scaled_score,
            raw_score,
            max_score
        from {{ ref("xapi_events_parsed") }}
        where
            verb_id = {{ verb("earned") }}
            and block_type = 'sequential'
            and scaled_score is not null
            and (org, course_key, actor_id) in (
                select org, course_key, actor_id from touched_learners
            )
    ),

    latest as (
        select
            org,
            course_key,
            actor_id,
            subsection_id,
            argMax(scaled_score, (emission_time, scaled_score)) * 100 as grade_percent,
            argMax(raw_score, (emission_time, scaled_score)) as earned_points,
            argMax(max_score, (emission_time, scaled_score)) as possible_points,
            max(emission_time) as graded_at,
            uniqExact(event_id) as calculations,
            argMax(ccx_course_key, (emission_time, scaled_score)) as ccx_course_key
        from calculations
        group by org, course_key, actor_id, subsection_id
    )

select latest.*, touched_learners.last_loaded_at as last_loaded_at
from latest
inner join touched_learners using (org, course_key, actor_id)
