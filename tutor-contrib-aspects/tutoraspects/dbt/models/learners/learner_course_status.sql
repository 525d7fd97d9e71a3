{#-
  One row per learner per course they have statements in: enrolment status, activity,
  progress, and whether they passed.

  Course progress is the latest progressed statement about the course itself; progressed
  statements about blocks (block completion) count as completed blocks when they reach
  100 %. A learner has passed when their latest course grade statement is passed (not failed).
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["org", "course_key", "actor_id"],
        engine="MergeTree()",
        order_by="(org, course_key, actor_id)",
    )
}}

with
    touched_learners as (
        select org, course_key, actor_id, max(loaded_at) as last_loaded_at
        from {{ ref("xapi_events_parsed") }}
        where course_key != '' and actor_id != '' and {{ arrived_since_last_run() }}
        group by org, course_key, actor_id
    ),

    -- Copies of a replayed statement need no removing: every figure below is a latest or
    -- earliest value or a distinct count, which copies do not change.
    learner_statements as (
        select
            event_id,
            org,
            course_key,
            actor_id,
            verb_id,
            emission_time,
            block_id,
            progress_percent
        from {{ ref("xapi_events_parsed") }}
        where
            course_key != ''
            and (org, course_key, actor_id) in (
                select org, course_key, actor_id from touched_learners
            )
    ),

    per_learner as (
        select
            org,
            course_key,
            actor_id,
            -- (time, id) orders statements of the same microsecond the same way every run
            toLowCardinality(
                multiIf(
                    countIf(verb_id in {{ verbs(["registered", "unregistered"]) }}) = 0,
                    'unknown',
                    argMaxIf(
                        verb_id,
                        (emission_time, event_id),
                        verb_id in {{ verbs(["registered", "unregistered"]) }}
                    )
                    = {{ verb("registered") }},
                    'enrolled',
                    'unenrolled'
                )
            ) as enrollment_status,
            maxIfOrNull(emission_time, verb_id = {{ verb("registered") }}) as last_enrolled_at,
            minIfOrNull(emission_time, {{ is_learning_activity() }}) as first_activity_at,
            maxIfOrNull(emission_time, {{ is_learning_activity() }}) as last_activity_at,
            max(emission_time) as last_statement_at,
            argMaxIfOrNull(
                progress_percent,
                (emission_time, event_id),
                verb_id = {{ verb("progressed") }}
                and block_id = ''
                and progress_percent is not null
            ) as course_progress_percent,
            maxIfOrNull(
                emission_time,
                verb_id = {{ verb("progressed") }}
                and block_id = ''
                and progress_percent is not null
            ) as course_progress_at,
            uniqExactIf(
                block_id,
                verb_id = {{ verb("progressed") }}
                and block_id != ''
                and progress_percent >= 100
            ) as completed_blocks,
            toBool(
                argMaxIf(
                    verb_id = {{ verb("passed") }},
                    (emission_time, event_id),
                    verb_id in {{ verbs(["passed", "failed"]) }} and block_id = ''
                )
            ) as passed,
            if(
                passed,
                maxIfOrNull(emission_time, verb_id = {{ verb("passed") }} and block_id = ''),
                null
            ) as passed_at
        from learner_statements
        group by org, course_key, actor_id
    )

select per_learner.*, touched_learners.last_loaded_at as last_loaded_at
from per_learner
inner join touched_learners using (org, course_key, actor_id)
