{#-
  What each learner did with each block of a course, per day: the pages (units) they visited,
  the videos they watched, the problems they submitted. Section and subsection summaries and
  the pages charts read it with the course structure (course_block_names).

  - page: a navigation statement names the unit the learner leaves (next, previous, a tab of
    the sequence bar): the learner was on that unit's page. block_id is the unit.
  - video: a played or completed statement about the video.
  - problem: a submission of the problem (is_submission: not a question of a multi-question
    problem, whose submission is counted once).

  Copies of a replayed statement need no removing: only distinct values are counted.
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["org", "course_key", "activity_date"],
        engine="MergeTree()",
        order_by="(org, course_key, activity_date, activity, block_id, actor_id)",
    )
}}

with
    activities as (
        select
            event_id,
            org,
            course_key,
            block_id,
            actor_id,
            toDate(emission_time) as activity_date,
            toLowCardinality(
                multiIf(
                    verb_id = {{ verb("navigated") }} and block_type = 'vertical', 'page',
                    verb_id in {{ verbs(["played", "completed"]) }} and block_type = 'video',
                    'video',
                    {{ is_submission() }}, 'problem',
                    ''
                )
            ) as activity,
            loaded_at
        from {{ ref("xapi_events_parsed") }}
        where
            course_key != ''
            and actor_id != ''
            and block_id != ''
            and verb_id in {{ verbs(["navigated", "played", "completed", "evaluated"]) }}
            and activity != ''
    ),

    touched_days as (
        select org, course_key, activity_date, max(loaded_at) as last_loaded_at
        from activities
        where {{ arrived_since_last_run() }}
        group by org, course_key, activity_date
    ),

    daily as (
        select
            org,
            course_key,
            activity_date,
            activity,
            block_id,
            actor_id,
            uniqExact(event_id) as statements
        from activities
        where
            (org, course_key, activity_date) in (
                select org, course_key, activity_date from touched_days
            )
        group by org, course_key, activity_date, activity, block_id, actor_id
    )

select daily.*, touched_days.last_loaded_at as last_loaded_at
from daily
inner join touched_days using (org, course_key, activity_date)
