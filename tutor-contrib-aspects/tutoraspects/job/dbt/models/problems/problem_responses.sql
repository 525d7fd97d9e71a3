{#-
  Per problem, question and answer: how many learners gave the answer at their first
  submission and at their latest one, and whether it was correct.

  event-routing-backends sends a one-question problem's check as one evaluated statement with
  the response; a multi-question problem's check as one statement for the whole problem (whose
  response is its first question's) and one per question (parent_statement_id pointing to it,
  object id suffixed with the question's input id, e.g. _2_1). The answers are read from the
  questions' statements where the submission has some, from the submission's otherwise, so
  the first question is not counted twice. question_id is the input id ('' for a one-question
  problem).
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["org", "course_key", "problem_id"],
        engine="MergeTree()",
        order_by="(org, course_key, problem_id, question_id, response, correct)",
    )
}}

with
    touched_problems as (
        {% call touched(["block_id as problem_id"]) %}
            verb_id = {{ verb("evaluated") }}
            and block_type = 'problem'
        {% endcall %}
    ),

    evaluations as (
        select
            event_id,
            org,
            course_key,
            block_id as problem_id,
            actor_id,
            emission_time,
            parent_statement_id,
            if(
                parent_statement_id = '', '', extract(object_id, '_([0-9]+_[0-9]+)$')
            ) as question_id,
            response,
            -- A question carries only its success; a one-question submission its score too.
            toBool(ifNull({{ submission_is_correct() }}, false)) as correct
        from {{ ref("xapi_events_parsed") }}
        where
            verb_id = {{ verb("evaluated") }}
            and block_type = 'problem'
            and (org, course_key, block_id) in (
                select org, course_key, problem_id from touched_problems
            )
        limit 1 by event_id
    ),

    answers as (
        select *
        from evaluations
        where
            parent_statement_id != ''
            or toString(event_id) not in (
                select parent_statement_id from evaluations where parent_statement_id != ''
            )
    ),

    per_learner as (
        select
            org,
            course_key,
            problem_id,
            question_id,
            actor_id,
            argMin((response, correct), (emission_time, event_id)) as first_answer,
            argMax((response, correct), (emission_time, event_id)) as final_answer
        from answers
        group by org, course_key, problem_id, question_id, actor_id
    ),

    given as (
        select
            org,
            course_key,
            problem_id,
            question_id,
            response,
            correct,
            count() as submissions,
            uniqExact(actor_id) as learners
        from answers
        group by org, course_key, problem_id, question_id, response, correct
    ),

    -- Each learner's first and final answers, counted per answer.
    first_and_final as (
        select
            org,
            course_key,
            problem_id,
            question_id,
            at_attempt.2 as response,
            at_attempt.3 as correct,
            countIf(at_attempt.1 = 'first') as first_attempt_learners,
            countIf(at_attempt.1 = 'final') as final_attempt_learners
        from per_learner
        array join
            [
                ('first', first_answer.1, first_answer.2),
                ('final', final_answer.1, final_answer.2)
            ] as at_attempt
        group by org, course_key, problem_id, question_id, response, correct
    )

select
    given.org as org,
    given.course_key as course_key,
    given.problem_id as problem_id,
    given.question_id as question_id,
    given.response as response,
    given.correct as correct,
    given.submissions as submissions,
    given.learners as learners,
    coalesce(first_and_final.first_attempt_learners, 0) as first_attempt_learners,
    coalesce(first_and_final.final_attempt_learners, 0) as final_attempt_learners,
    touched_problems.last_loaded_at as last_loaded_at
from given
inner join touched_problems using (org, course_key, problem_id)
left join first_and_final using (org, course_key, problem_id, question_id, response, correct)
