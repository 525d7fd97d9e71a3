{#-
  Per problem, how many learners have their latest score in each tenth of the scale: bucket
  0 holds scores below 10 %, 10 holds 10 % to 19.99 %, ..., 90 holds 90 % to 99.99 %, and
  100 holds full marks. A learner's latest graded submission is the score the LMS keeps.
  Submissions as in problem_performance: the statement of the whole problem, never one of its
  questions (which carry no score).
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["org", "course_key", "problem_id"],
        engine="MergeTree()",
        order_by="(org, course_key, problem_id, score_bucket)",
    )
}}

with
    touched_problems as (
        {% call touched(["block_id as problem_id"]) %}
            {{ is_submission() }}
            and scaled_score is not null
        {% endcall %}
    ),

    scored_submissions as (
        select
            event_id,
            org,
            course_key,
            block_id as problem_id,
            actor_id,
            emission_time,
            assumeNotNull(scaled_score) as score
        from {{ ref("xapi_events_parsed") }}
        where
            {{ is_submission() }}
            and scaled_score is not null
            and (org, course_key, block_id) in (
                select org, course_key, problem_id from touched_problems
            )
        limit 1 by event_id
    ),

    latest_scores as (
        select
            org,
            course_key,
            problem_id,
            actor_id,
            argMax(score, (emission_time, event_id)) as latest_score
        from scored_submissions
        group by org, course_key, problem_id, actor_id
    ),

    buckets as (
        select
            org,
            course_key,
            problem_id,
            toUInt8(least(greatest(floor(latest_score * 10), 0), 10) * 10) as score_bucket,
            count() as learners
        from latest_scores
        group by org, course_key, problem_id, score_bucket
    )

select buckets.*, touched_problems.last_loaded_at as last_loaded_at
from buckets
inner join touched_problems using (org, course_key, problem_id)
