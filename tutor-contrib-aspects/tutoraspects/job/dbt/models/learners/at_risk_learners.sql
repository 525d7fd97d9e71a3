{#-
  Learners at risk in each course: enrolled (or enrolled before statements were collected:
  no enrolment statement, status unknown) and flagged by at least one criterion, each a
  setting that 0 turns off:

  - inactive: no learning activity (a visit: not enrolment, grades or grade outcomes, which
    the platform emits) for at_risk_inactive_days days or more, counted back from
    at_risk_as_of or, when that var is empty, from the latest statement of their course (a
    course whose statements stopped arriving is judged as of its own last day). A learner who
    did nothing yet counts from their enrolment or, enrolled before collection, from their
    first statement;
  - failing_grade: a course grade below at_risk_grade_below_percent and not passed. A learner
    the platform has not graded yet is not flagged by it (inactivity and progress are);
  - low_progress: completed blocks below at_risk_progress_below_percent of the blocks of the
    course's outline (course_block_names: what is neither a section, subsection nor unit).
    Without an outline from the CMS, progress is unknown and nobody is flagged by it.

  Each criterion's setting is a dbt var, or else the environment variable the aspects jobs
  get from Tutor (ASPECTS_AT_RISK_*), or else the default of the Tutor setting.

  A view over learner_course_status: the answer depends on the date it is asked for, so it
  is computed when queried rather than stored.
-#}
{{ config(materialized="view") }}

{%- set criteria = {} %}
{%- for name, default in [
    ("inactive_days", "14"),
    ("grade_below_percent", "50"),
    ("progress_below_percent", "25"),
] %}
    {%- set setting = "at_risk_" ~ name %}
    {%- set text = var(setting, env_var("ASPECTS_" ~ setting | upper, default)) | string %}
    {%- if not modules.re.match("^[0-9]+$", text | trim) %}
        {{ exceptions.raise_compiler_error(
            setting ~ " (ASPECTS_" ~ setting | upper ~ ") must be a whole number, not '"
            ~ text ~ "'"
        ) }}
    {%- endif %}
    {%- do criteria.update({name: text | trim | int}) %}
{%- endfor %}
{%- set as_of_text = var("at_risk_as_of") | string %}
{%- if as_of_text and not modules.re.match(
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?Z?)?$", as_of_text
) %}
    {{ exceptions.raise_compiler_error(
        "at_risk_as_of must be an ISO date or date-time (UTC), not '" ~ as_of_text ~ "'"
    ) }}
{%- endif %}

with
    outline_sizes as (
        select org, course_key, count() as course_blocks
        from {{ ref("course_block_names") }}
        where section > 0 and block_type not in ('chapter', 'sequential', 'vertical')
        group by org, course_key
    ),

    -- Every learner of the course, unenrolled ones too: a course's latest statement may be
    -- an unenrolment.
    learners as (
        select
            status.org as org,
            status.course_key as course_key,
            status.actor_id as actor_id,
            status.ccx_course_key as ccx_course_key,
            status.enrollment_status as enrollment_status,
            status.enrollment_mode as enrollment_mode,
            status.last_enrolled_at as last_enrolled_at,
            status.last_activity_at as last_activity_at,
            assumeNotNull(
                coalesce(
                    status.last_activity_at, status.last_enrolled_at, status.first_statement_at
                )
            ) as inactive_since,
            {% if as_of_text -%}
                parseDateTime64BestEffort('{{ as_of_text }}', 6, 'UTC')
            {%- else -%}
                max(status.last_statement_at) over (partition by status.org, status.course_key)
            {%- endif %} as as_of,
            intDiv(dateDiff('second', inactive_since, as_of), 86400) as days_inactive,
            status.course_grade_percent as course_grade_percent,
            status.passed as passed,
            status.completed_blocks as completed_blocks,
            -- More completed blocks than the outline holds: blocks since removed from it.
            if(
                sizes.course_blocks > 0,
                least(100.0, 100.0 * status.completed_blocks / sizes.course_blocks),
                null
            ) as progress_percent
        from {{ ref("learner_course_status") }} as status
        left join
            outline_sizes as sizes
            on sizes.org = status.org
            and sizes.course_key = status.course_key
    )

select
    *,
    toBool(
        {{ criteria.inactive_days }} > 0
        and dateDiff('second', inactive_since, as_of) >= {{ criteria.inactive_days * 86400 }}
    ) as inactive,
    toBool(
        coalesce(
            not passed and course_grade_percent < {{ criteria.grade_below_percent }}, false
        )
    ) as failing_grade,
    toBool(
        coalesce(progress_percent < {{ criteria.progress_below_percent }}, false)
    ) as low_progress
from learners
where enrollment_status in ('enrolled', 'unknown') and (inactive or failing_grade or low_progress)
