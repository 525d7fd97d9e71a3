{#-
  One row per learner per course they have statements in: enrolment status, activity,
  completed blocks, course grade, and whether they passed.

  - Activity is what the learner does (is_learning_activity): not enrolment changes, not
    grades or grade outcomes, which the platform emits (a bulk regrade sends an earned
    statement for every learner, and must not make them look active).
  - Course progress is not a figure: event-routing-backends sends no progressed statement
    about the course in a default install (only the completion aggregator, not installed by
    default, does). Progressed statements about blocks (edx.completion.block_completion.changed)
    count as completed blocks when they reach 100 %.
  - The course grade is that of the latest earned statement about the course
    (edx.grades.course.grade_calculated, sent whenever the platform recomputes it); at the
    same instant, the higher grade (as in course_grades).
  - A learner has passed when their latest course grade outcome is passed. Outcomes at the same
    instant (a pass and a fail emitted together) resolve to passed: the learner reached the
    pass mark at that time, whatever order the platform logged them in.
  - The enrolment status follows the latest enrolment statement; at the same instant a
    registration comes after an unregistration (as in course_enrollments_daily). The track
    (enrollment_mode) is that of the latest registration: a mode change is a registration.
  - A CCX's statements count towards its master course; ccx_course_key says which CCX the
    learner's latest statement came from ('' for the master course run).
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
        {% call touched(["actor_id"]) %}
            actor_id != ''
        {% endcall %}
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
            object_type,
            block_id,
            ccx_course_key as statement_ccx_course_key,
            scaled_score,
            progress_percent,
            enrollment_mode
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
            -- (time, verb, id): at the same instant a registration is the later; the id only
            -- orders copies of one statement
            toLowCardinality(
                multiIf(
                    countIf(verb_id in {{ verbs(["registered", "unregistered"]) }}) = 0,
                    'unknown',
                    argMaxIf(
                        verb_id,
                        (emission_time, verb_id = {{ verb("registered") }}, event_id),
                        verb_id in {{ verbs(["registered", "unregistered"]) }}
                    )
                    = {{ verb("registered") }},
                    'enrolled',
                    'unenrolled'
                )
            ) as enrollment_status,
            maxIfOrNull(emission_time, verb_id = {{ verb("registered") }}) as last_enrolled_at,
            argMaxIf(
                enrollment_mode,
                (emission_time, event_id),
                verb_id = {{ verb("registered") }}
            ) as enrollment_mode,
            minIfOrNull(emission_time, {{ is_learning_activity() }}) as first_activity_at,
            maxIfOrNull(emission_time, {{ is_learning_activity() }}) as last_activity_at,
            min(emission_time) as first_statement_at,
            max(emission_time) as last_statement_at,
            argMaxIfOrNull(
                scaled_score * 100,
                (emission_time, scaled_score),
                verb_id = {{ verb("earned") }} and block_id = '' and scaled_score is not null
            ) as course_grade_percent,
            maxIfOrNull(
                emission_time,
                verb_id = {{ verb("earned") }} and block_id = '' and scaled_score is not null
            ) as course_grade_at,
            uniqExactIf(
                block_id,
                verb_id = {{ verb("progressed") }}
                and block_id != ''
                and progress_percent >= 100
            ) as completed_blocks,
            toBool(
                argMaxIf(
                    verb_id = {{ verb("passed") }},
                    (emission_time, verb_id = {{ verb("passed") }}, event_id),
                    verb_id in {{ verbs(["passed", "failed"]) }} and block_id = ''
                )
            ) as passed,
            if(
                passed,
                maxIfOrNull(emission_time, verb_id = {{ verb("passed") }} and block_id = ''),
                null
            ) as passed_at,
            argMax(statement_ccx_course_key, (emission_time, event_id)) as ccx_course_key
        from learner_statements
        group by org, course_key, actor_id
    )

select per_learner.*, touched_learners.last_loaded_at as last_loaded_at
from per_learner
inner join touched_learners using (org, course_key, actor_id)
