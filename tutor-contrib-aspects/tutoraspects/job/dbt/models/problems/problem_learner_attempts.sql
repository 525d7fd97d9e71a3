{#-
  Per problem and learner: their submissions, how many were correct, when they first and last
  submitted. Submissions and correctness as in problem_performance (the statement of the whole
  problem, never one of its questions). The course dashboards group these rows by section and
  subsection at query time, where learners must be counted once per group, not per problem.
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["org", "course_key", "problem_id"],
        engine="MergeTree()",
        order_by="(org, course_key, problem_id, actor_id)",
    )
}}

with
    touched_problems as (
        {% call touched(["block_id as problem_id"]) %}
            {{ is_submission() }}
        {% endcall %}
    ),

    submissions as (
        select
            event_id,
            org,
            course_key,
            block_id as problem_id,
            actor_id,
            emission_time,
            {{ submission_is_correct() }} as correct
        from {{ ref("xapi_events_parsed") }}
        where
            {{ is_submission() }}
            and (org, course_key, block_id) in (
                select org, course_key, problem_id from touched_problems
            )
        limit 1 by event_id
    ),

    per_learner as (
        select
            org,
            course_key,
            problem_id,
            actor_id,
            count() as attempts,
            countIf(correct) as correct_attempts,
            min(emission_time) as first_attempt_at,
            max(emission_time) as last_attempt_at
        from submissions
        group by org, course_key, problem_id, actor_id
    )

select per_learner.*, touched_problems.last_loaded_at as last_loaded_at
from per_learner
inner join touched_problems using (org, course_key, problem_id)
