{#-
  Per problem: submissions, the learners who submitted, how many submissions were correct and
  their average scaled score.

  A submission is one graded check of a problem (an evaluated statement, from the server's
  problem_check). event-routing-backends sends a multi-question problem's check as one
  statement for the whole problem (with the score) and one per question (parent_statement_id
  pointing to it, with the question's success and response but no score): the questions are
  not submissions, so attempts, success rate and average score are all over the same
  statements. A submission is correct when it earned full marks (scaled score 1): the whole
  problem's statement carries, as its success, the correctness of its first question only.
  Without a score, its success says. The browser's attempted (no grade yet) and the platform's
  score records are not submissions.
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
            scaled_score,
            {{ submission_is_correct() }} as correct
        from {{ ref("xapi_events_parsed") }}
        where
            {{ is_submission() }}
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
            countIf(correct) as correct_attempts,
            correct_attempts / attempts as success_rate,
            uniqExactIf(actor_id, correct) as learners_succeeded,
            -- NULL when no submission carried a score
            avg(scaled_score) as average_score
        from submissions
        group by org, course_key, problem_id
    )

select per_problem.*, touched_problems.last_loaded_at as last_loaded_at
from per_problem
inner join touched_problems using (org, course_key, problem_id)
