{#-
  Each learner's course grade over time: one row per learner, course and day the platform
  calculated it (edx.grades.course.grade_calculated, an earned statement about the course).

  - The platform sends the whole grade again whenever it recomputes it (a problem scored, a
    regrade): a calculation replaces the previous grade, it never adds to it. A day's grade is
    the latest calculation of that day, by emission time whatever the arrival order; at the
    same instant, the higher grade.
  - previous_grade_percent is the grade at the end of the learner's previous graded day, and
    is_latest marks the learner's current grade (the same as learner_course_status's).
  - A CCX's grades count towards its master course; ccx_course_key names the CCX.
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["org", "course_key", "actor_id"],
        engine="MergeTree()",
        order_by="(org, course_key, actor_id, grade_date)",
    )
}}

with
    touched_learners as (
        {% call touched(["actor_id"]) %}
            verb_id = {{ verb("earned") }}
            and block_id = ''
        {% endcall %}
    ),

    -- Copies of a replayed statement need no removing: the figures are latest values and a
    -- distinct count.
    calculations as (
        select
            event_id,
            org,
            course_key,
            actor_id,
            ccx_course_key,
            toDate(emission_time) as grade_date,
            emission_time,
            scaled_score
        from {{ ref("xapi_events_parsed") }}
        where
            verb_id = {{ verb("earned") }}
            and block_id = ''
            and scaled_score is not null
            and (org, course_key, actor_id) in (
                select org, course_key, actor_id from touched_learners
            )
    ),

    per_day as (
        select
            org,
            course_key,
            actor_id,
            grade_date,
            argMax(scaled_score, (emission_time, scaled_score)) * 100 as course_grade_percent,
            max(emission_time) as graded_at,
            uniqExact(event_id) as calculations,
            argMax(ccx_course_key, (emission_time, scaled_score)) as ccx_course_key
        from calculations
        group by org, course_key, actor_id, grade_date
    ),

    over_time as (
        select
            *,
            lagInFrame(toNullable(course_grade_percent)) over learner as previous_grade_percent,
            toBool(grade_date = max(grade_date) over learner) as is_latest
        from per_day
        window
            learner as (
                partition by org, course_key, actor_id
                order by grade_date
                rows between unbounded preceding and unbounded following
            )
    )

select over_time.*, touched_learners.last_loaded_at as last_loaded_at
from over_time
inner join touched_learners using (org, course_key, actor_id)
