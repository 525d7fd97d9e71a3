{#-
  Enrolled learners with no learning activity for at_risk_inactive_days days or more, counted
  back from at_risk_as_of, or from the latest statement when that var is empty. A learner who
  enrolled and did nothing yet counts from their enrolment.

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

with
    as_of as (
        select
            {% if as_of_text -%}
                parseDateTime64BestEffort('{{ as_of_text }}', 6, 'UTC')
            {%- else -%}
                -- an aggregate without GROUP BY always returns its one row
                assumeNotNull(
                    (select max(last_statement_at) from {{ ref("learner_course_status") }})
                )
            {%- endif %} as as_of_time
    )

select
    org,
    course_key,
    actor_id,
    last_enrolled_at,
    last_activity_at,
    assumeNotNull(coalesce(last_activity_at, last_enrolled_at)) as inactive_since,
    as_of.as_of_time as as_of,
    intDiv(dateDiff('second', inactive_since, as_of), 86400) as days_inactive
from {{ ref("learner_course_status") }}
cross join as_of
where
    enrollment_status = 'enrolled'
    and dateDiff('second', inactive_since, as_of) >= {{ inactive_days * 86400 }}
