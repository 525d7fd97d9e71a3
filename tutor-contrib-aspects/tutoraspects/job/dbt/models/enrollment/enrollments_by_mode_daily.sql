{#-
  Enrolments per course, enrolment track (mode: audit, verified...) and day: learners who
  entered the track, learners who left it, and how many are enrolled in it at the end of the
  day. Only days when a track's count changed have a row.

  A learner is in the track of their latest registration while enrolled (a mode change is a
  registration of an enrolled learner); enrolment statements are ordered as in
  course_enrollments_daily (at the same instant an unregistration comes before a
  registration). A mode change leaves one track and enters another; an unregistration leaves
  the learner's track; a registration in the track the learner is already in changes nothing.
  CCX runs count towards their master course.
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["org", "course_key"],
        engine="MergeTree()",
        order_by="(org, course_key, enrollment_mode, enrollment_date)",
    )
}}

with
    -- The counts are running totals: a course with new enrolment statements is recomputed
    -- whole, as in course_enrollments_daily.
    touched_courses as (
        {% call touched() %}
            verb_id in {{ verbs(["registered", "unregistered"]) }}
        {% endcall %}
    ),

    enrollment_statements as (
        select event_id, org, course_key, actor_id, verb_id, emission_time, enrollment_mode
        from {{ ref("xapi_events_parsed") }}
        where
            verb_id in {{ verbs(["registered", "unregistered"]) }}
            and (org, course_key) in (select org, course_key from touched_courses)
        limit 1 by event_id
    ),

    -- Each statement with the one before it: the learner is enrolled, in the track of that
    -- statement, when it is a registration.
    with_previous as (
        select
            org,
            course_key,
            toDate(emission_time) as enrollment_date,
            verb_id = {{ verb("registered") }} as is_registration,
            enrollment_mode,
            lagInFrame(verb_id, 1, '') over learner = {{ verb("registered") }} as was_enrolled,
            lagInFrame(enrollment_mode, 1, '') over learner as previous_mode
        from enrollment_statements
        window
            learner as (
                partition by org, course_key, actor_id
                order by emission_time, verb_id = {{ verb("registered") }}, event_id
                rows between unbounded preceding and current row
            )
    ),

    track_changes as (
        select
            org,
            course_key,
            enrollment_date,
            arrayJoin(
                arrayFilter(
                    change -> change.2 != 0,
                    [
                        (
                            previous_mode,
                            if(
                                was_enrolled
                                and (not is_registration or enrollment_mode != previous_mode),
                                -1,
                                0
                            )
                        ),
                        (
                            enrollment_mode,
                            if(
                                is_registration
                                and (not was_enrolled or enrollment_mode != previous_mode),
                                1,
                                0
                            )
                        )
                    ]
                )
            ) as change,
            change.1 as changed_mode,
            toInt64(change.2) as enrolled_change
        from with_previous
    ),

    daily as (
        select
            org,
            course_key,
            changed_mode as enrollment_mode,
            enrollment_date,
            countIf(enrolled_change = 1) as entered,
            countIf(enrolled_change = -1) as left_track,
            sum(enrolled_change) as net_change
        from track_changes
        group by org, course_key, enrollment_mode, enrollment_date
    )

select
    daily.org as org,
    daily.course_key as course_key,
    daily.enrollment_mode as enrollment_mode,
    daily.enrollment_date as enrollment_date,
    daily.entered as entered,
    daily.left_track as left_track,
    daily.net_change as net_change,
    sum(daily.net_change) over (
        partition by daily.org, daily.course_key, daily.enrollment_mode
        order by daily.enrollment_date
        rows between unbounded preceding and current row
    ) as enrolled_learners,
    touched_courses.last_loaded_at as last_loaded_at
from daily
inner join touched_courses using (org, course_key)
