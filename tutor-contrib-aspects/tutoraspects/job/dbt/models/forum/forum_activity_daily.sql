{#-
  Forum activity per course, day and learner: how many times each learner posted, edited,
  deleted, reported, unreported, voted on and viewed threads and replies, thread by thread
  where the statement names the thread.

  What event-routing-backends sends for the edx.forum.* events a default install routes:
  - threads: posted, edited, deleted, reported, unreported, voted, viewed, the thread as object
    (.../threads/ID); replies (responses and comments: their statements are the same, so they
    are counted together): posted, edited, deleted, reported, unreported, voted (.../comments/ID).
  - A posted reply names its thread (grouping activity); a reply's other statements do not
    (the platform's events carry no thread id for them): their thread_id is ''.
  - A vote and its withdrawal are the same voted statement (the platform's undo_vote is not
    sent): votes counts both.
  - thread_title is the thread's title from the latest statement about the thread that carries
    one (posted, viewed, deleted, reported, unreported), as of the row's computation; ''
    when none was collected.
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["org", "course_key", "activity_date"],
        engine="MergeTree()",
        order_by="(org, course_key, activity_date, actor_id, thread_id, post_type, action)",
    )
}}

with
    touched_days as (
        {% call touched(["toDate(emission_time) as activity_date"]) %}
            verb_id in {{ forum_verbs() }}
            and forum_post_type != ''
        {% endcall %}
    ),

    -- Copies of a replayed statement need no removing: only distinct ids are counted.
    forum_statements as (
        select
            event_id,
            org,
            course_key,
            toDate(emission_time) as activity_date,
            actor_id,
            forum_thread_id as thread_id,
            forum_post_type as post_type,
            toLowCardinality(
                multiIf(
                    verb_id = {{ verb("posted") }}, 'posted',
                    verb_id = {{ verb("edited") }}, 'edited',
                    verb_id = {{ verb("deleted") }}, 'deleted',
                    verb_id = {{ verb("reported") }}, 'reported',
                    verb_id = {{ verb("unreported") }}, 'unreported',
                    verb_id = {{ verb("voted") }}, 'voted',
                    'viewed'
                )
            ) as action
        from {{ ref("xapi_events_parsed") }}
        where
            verb_id in {{ forum_verbs() }}
            and forum_post_type != ''
            and (org, course_key, toDate(emission_time)) in (
                select org, course_key, activity_date from touched_days
            )
    ),

    titles as (
        select
            org,
            course_key,
            forum_thread_id as thread_id,
            argMax(object_name, (emission_time, event_id)) as thread_title
        from {{ ref("xapi_events_parsed") }}
        where
            verb_id in {{ forum_verbs() }}
            and forum_post_type = 'thread'
            and object_name != ''
            and (org, course_key, forum_thread_id) in (
                select org, course_key, thread_id from forum_statements where thread_id != ''
            )
        group by org, course_key, thread_id
    ),

    daily as (
        select
            org,
            course_key,
            activity_date,
            actor_id,
            thread_id,
            post_type,
            action,
            uniqExact(event_id) as statements
        from forum_statements
        group by org, course_key, activity_date, actor_id, thread_id, post_type, action
    )

select
    daily.org as org,
    daily.course_key as course_key,
    daily.activity_date as activity_date,
    daily.actor_id as actor_id,
    daily.thread_id as thread_id,
    coalesce(titles.thread_title, '') as thread_title,
    daily.post_type as post_type,
    daily.action as action,
    daily.statements as statements,
    touched_days.last_loaded_at as last_loaded_at
from daily
inner join touched_days using (org, course_key, activity_date)
left join titles using (org, course_key, thread_id)
