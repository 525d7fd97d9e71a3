{#-
  Per problem: how often learners asked to see its answer or a hint, and how many learners did.

  event-routing-backends sends an asked statement for showanswer (object .../answer, of type
  solution) and for edx.problem.hint.demandhint_displayed (object .../hint/N, of type
  supplemental info), both under the problem's block. edx.problem.hint.feedback_displayed (the
  feedback a problem's answer shows) is not among the events a default install routes: no
  statement, no figure.
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
            verb_id = {{ verb("asked") }}
            and block_type = 'problem'
        {% endcall %}
    ),

    -- Copies of a replayed statement need no removing: only distinct values are counted.
    requests as (
        select
            event_id,
            org,
            course_key,
            block_id as problem_id,
            actor_id,
            object_type = {{ activity_type("solution") }} as is_answer,
            object_type = {{ activity_type("supplemental_info") }} as is_hint
        from {{ ref("xapi_events_parsed") }}
        where
            verb_id = {{ verb("asked") }}
            and block_type = 'problem'
            and (org, course_key, block_id) in (
                select org, course_key, problem_id from touched_problems
            )
    ),

    per_problem as (
        select
            org,
            course_key,
            problem_id,
            uniqExactIf(event_id, is_answer) as answers_shown,
            uniqExactIf(actor_id, is_answer) as answer_learners,
            uniqExactIf(event_id, is_hint) as hints_shown,
            uniqExactIf(actor_id, is_hint) as hint_learners
        from requests
        group by org, course_key, problem_id
    )

select per_problem.*, touched_problems.last_loaded_at as last_loaded_at
from per_problem
inner join touched_problems using (org, course_key, problem_id)
