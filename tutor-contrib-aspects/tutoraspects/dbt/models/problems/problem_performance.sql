{#-
  Per problem: graded submissions (evaluated statements), the learners who submitted, how many
  submissions were correct and the average scaled score. Each question of a multi-question
  problem is graded in its own statement and counts as one submission of the problem.
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["org", "course_key", "problem_id"],
        engine="MergeTree()",
        order_by="(org, course_key, problem_id)",
    )
}}

with
    touched_problems as (
        select org, course_key, block_id as problem_id, max(loaded_at) as last_loaded_at
        from {{ ref("xapi_events_parsed") }}
        where
            verb_id = {{ verb("evaluated") }}
            and block_type = 'problem'
            and course_key != ''
            and {{ arrived_since_last_run() }}
        group by org, course_key, problem_id
    ),

    submissions as (
        select event_id, org, course_key, block_id as problem_id, actor_id, scaled_score, success
        from {{ ref("xapi_events_parsed") }}
        where
            verb_id = {{ verb("evaluated") }}
            and block_type = 'problem'
            and (org, course_key, block_id) in (
                select org, course_key, problem_id from touched_problems
            )
        limit 1 by event_id
    ),

    per_problem as (
        select
            org,
            course_key,
            problem_id,
            count() as attempts,
            uniqExact(actor_id) as learners,
            countIf(success) as correct_attempts,
            correct_attempts / attempts as success_rate,
            uniqExactIf(actor_id, success) as learners_succeeded,
            -- NULL when no submission carried a score
            avg(scaled_score) as average_score
        from submissions
        group by org, course_key, problem_id
    )

select per_problem.*, touched_problems.last_loaded_at as last_loaded_at
from per_problem
inner join touched_problems using (org, course_key, problem_id)
