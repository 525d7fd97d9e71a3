{#-
  Enrolled learners with no learning activity for at_risk_inactive_days days or more, counted
  back from at_risk_as_of, or, when that var is empty, from the latest statement of their
  course (a course whose statements stopped arriving is judged as of its own last day, not
  another course's). A learner who enrolled and did nothing yet counts from their enrolment;
  grades and grade outcomes the platform emits are not activity. Learners enrolled before
  statements were collected have no enrolment statement (status unknown) and are not listed:
  the enrolment event-sink table would tell whether they are enrolled.

  A view over learner_course_status: the answer depends on the date it is asked for, so it
  is computed when queried rather than stored.
-#}
{{ config(materialized="view") }}

{%- set inactive_days = var("at_risk_inactive_days") | int %}
{%- set as_of_text = var("at_risk_as_of") | string %}
{%- if as_of_text and not modules.re.match(
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?Z?)?$", as_of_text
) %}
    {{ exceptions.raise_compiler_error(
        "at_risk_as_of must be an ISO date or date-time (UTC), not '" ~ as_of_text ~ "'"
    ) }}
{%- endif %}

select
    org,
    course_key,
    actor_id,
    ccx_course_key,
    last_enrolled_at,
    last_activity_at,
    assumeNotNull(coalesce(last_activity_at, last_enrolled_at)) as inactive_since,
    as_of_time as as_of,
    intDiv(dateDiff('second', inactive_since, as_of), 86400) as days_inactive
from
    (
        select
            *,
            {% if as_of_text -%}
                parseDateTime64BestEffort('{{ as_of_text }}', 6, 'UTC')
            {%- else -%}
                max(last_statement_at) over (partition by org, course_key)
            {%- endif %} as as_of_time
        from {{ ref("learner_course_status") }}
    )
where
    enrollment_status = 'enrolled'
    and dateDiff('second', inactive_since, as_of) >= {{ inactive_days * 86400 }}
