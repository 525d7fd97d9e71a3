{#-
  Enrolments per course per day: new enrolments, mode changes, unregistrations, and how many
  learners are enrolled at the end of the day. Only days with enrolment statements have a row.

  event-routing-backends sends a registered statement both for an enrolment
  (edx.course.enrollment.activated) and for a change of enrolment mode
  (edx.course.enrollment.mode_changed), identical but for the mode. A registration counts as
  a new enrolment when the learner was not enrolled (first enrolment or re-enrolment), as a
  mode change when they were. A learner's enrolment statements are ordered by emission time;
  at the same instant an unregistration comes before a registration (the learner ends
  enrolled), whatever the statement ids. A mode change of a learner enrolled before statements
  were collected has no registration before it and counts as an enrolment (the enrolment
  event-sink table would tell them apart).
  CCX runs count towards their master course.
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["org", "course_key"],
        engine="MergeTree()",
        order_by="(org, course_key, enrollment_date)",
    )
}}

with
    -- The number of enrolled learners is a running total, so a course with new enrolment
    -- statements is recomputed whole (enrolment statements are few compared to the rest).
    touched_courses as (
        {% call touched() %}
            verb_id in {{ verbs(["registered", "unregistered"]) }}
        {% endcall %}
    ),

    enrollment_statements as (
        select event_id, org, course_key, actor_id, verb_id, emission_time
        from {{ ref("xapi_events_parsed") }}
        where
            verb_id in {{ verbs(["registered", "unregistered"]) }}
            and (org, course_key) in (select org, course_key from touched_courses)
        limit 1 by event_id
    ),

    -- +1 when a learner becomes enrolled, -1 when an enrolled learner leaves. A registration
    -- while already enrolled (or an unregistration while not) changes nothing; an
    -- unregistration with no registration before it (enrolled before statements were
    -- collected) is not counted either, so the total never goes below zero.
    status_changes as (
        select
            org,
            course_key,
            toDate(emission_time) as enrollment_date,
            verb_id,
            lagInFrame(verb_id, 1, '') over (
                partition by org, course_key, actor_id
                order by emission_time, verb_id = {{ verb("registered") }}, event_id
                rows between unbounded preceding and current row
            ) as previous_verb_id,
            multiIf(
                verb_id = {{ verb("registered") }} and previous_verb_id != verb_id, 1,
                verb_id = {{ verb("unregistered") }}
                and previous_verb_id = {{ verb("registered") }}, -1,
                0
            ) as enrolled_change
        from enrollment_statements
    ),

    daily as (
        select
            org,
            course_key,
            enrollment_date,
            countIf(enrolled_change = 1) as registrations,
            countIf(
                verb_id = {{ verb("registered") }} and previous_verb_id = verb_id
            ) as mode_changes,
            countIf(verb_id = {{ verb("unregistered") }}) as unregistrations,
            toInt64(sum(enrolled_change)) as net_change
        from status_changes
        group by org, course_key, enrollment_date
    )

select
    daily.org as org,
    daily.course_key as course_key,
    daily.enrollment_date as enrollment_date,
    daily.registrations as registrations,
    daily.mode_changes as mode_changes,
    daily.unregistrations as unregistrations,
    daily.net_change as net_change,
    sum(daily.net_change) over (
        partition by daily.org, daily.course_key
        order by daily.enrollment_date
        rows between unbounded preceding and current row
    ) as enrolled_learners,
    touched_courses.last_loaded_at as last_loaded_at
from daily
inner join touched_courses using (org, course_key)
