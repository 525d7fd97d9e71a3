{#-
  Active learners per course per day and per week (weeks start on Monday): how many distinct
  learners did something in the course. Statements about enrolment and course grades are
  not activity (see the is_learning_activity macro).
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["org", "course_key", "period", "period_start"],
        engine="MergeTree()",
        order_by="(org, course_key, period, period_start)",
    )
}}

with
    touched_days as (
        {% call touched(["toDate(emission_time) as activity_date"]) %}
            actor_id != ''
            and {{ is_learning_activity() }}
        {% endcall %}
    ),

    touched_weeks as (
        select
            org,
            course_key,
            toMonday(activity_date) as week_start,
            max(last_loaded_at) as last_loaded_at
        from touched_days
        group by org, course_key, week_start
    ),

    -- Every statement of the touched weeks: a week's distinct learners cannot be summed from
    -- its days. Copies of a replayed statement need no removing: only distinct values are
    -- counted below.
    activity as (
        select event_id, org, course_key, actor_id, toDate(emission_time) as activity_date
        from {{ ref("xapi_events_parsed") }}
        where
            course_key != ''
            and actor_id != ''
            and {{ is_learning_activity() }}
            and (org, course_key, toMonday(toDate(emission_time))) in (
                select org, course_key, week_start from touched_weeks
            )
    ),

    daily as (
        select
            org,
            course_key,
            'day' as period,
            activity_date as period_start,
            uniqExact(actor_id) as active_learners,
            uniqExact(event_id) as statements
        from activity
        where
            (org, course_key, activity_date) in (
                select org, course_key, activity_date from touched_days
            )
        group by org, course_key, activity_date
    ),

    weekly as (
        select
            org,
            course_key,
            'week' as period,
            toMonday(activity_date) as period_start,
            uniqExact(actor_id) as active_learners,
            uniqExact(event_id) as statements
        from activity
        group by org, course_key, period_start
    )

select daily.*, touched_days.last_loaded_at as last_loaded_at
from daily
inner join
    touched_days
    on daily.org = touched_days.org
    and daily.course_key = touched_days.course_key
    and daily.period_start = touched_days.activity_date

union all

select weekly.*, touched_weeks.last_loaded_at as last_loaded_at
from weekly
inner join
    touched_weeks
    on weekly.org = touched_weeks.org
    and weekly.course_key = touched_weeks.course_key
    and weekly.period_start = touched_weeks.week_start
