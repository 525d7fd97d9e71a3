{#-
  What learners do with each video's player besides playing and pausing, per course, video
  and day: loads, stops, seeks (forward: a part skipped; backward: a part watched again),
  transcript or captions shown and hidden, speed changes.

  - Loads are initialized statements (load_video), stops terminated ones (stop_video).
  - A seek goes from video_time_from to video_time_to: forward when it goes later in the
    video, backward when earlier. skipped_seconds and rewound_seconds add up the distances.
  - Transcripts and captions: event-routing-backends sends the same interacted statement for
    showing a transcript and showing captions (cc-enabled true), and for hiding either
    (false), so they are counted together.
  - A speed change is an interacted statement with the speed it went to; speed_ups count the
    changes to a faster speed.
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["org", "course_key", "interaction_date"],
        engine="MergeTree()",
        order_by="(org, course_key, video_id, interaction_date)",
    )
}}

with
    touched_days as (
        {% call touched(["toDate(emission_time) as interaction_date"]) %}
            verb_id in {{ verbs(["initialized", "terminated", "seeked", "interacted"]) }}
            and block_type = 'video'
        {% endcall %}
    ),

    interactions as (
        select
            event_id,
            org,
            course_key,
            block_id as video_id,
            toDate(emission_time) as interaction_date,
            actor_id,
            verb_id,
            video_time_from,
            video_time_to,
            video_speed_from,
            video_speed_to,
            captions_enabled
        from {{ ref("xapi_events_parsed") }}
        where
            verb_id in {{ verbs(["initialized", "terminated", "seeked", "interacted"]) }}
            and block_type = 'video'
            and (org, course_key, toDate(emission_time)) in (
                select org, course_key, interaction_date from touched_days
            )
        limit 1 by event_id
    ),

    daily as (
        select
            org,
            course_key,
            video_id,
            interaction_date,
            uniqExact(actor_id) as learners,
            countIf(verb_id = {{ verb("initialized") }}) as loads,
            countIf(verb_id = {{ verb("terminated") }}) as stops,
            countIf(verb_id = {{ verb("seeked") }}) as seeks,
            countIf(
                verb_id = {{ verb("seeked") }} and video_time_to > video_time_from
            ) as forward_seeks,
            countIf(
                verb_id = {{ verb("seeked") }} and video_time_to < video_time_from
            ) as backward_seeks,
            sumIf(
                assumeNotNull(video_time_to) - assumeNotNull(video_time_from),
                verb_id = {{ verb("seeked") }} and video_time_to > video_time_from
            ) as skipped_seconds,
            sumIf(
                assumeNotNull(video_time_from) - assumeNotNull(video_time_to),
                verb_id = {{ verb("seeked") }} and video_time_to < video_time_from
            ) as rewound_seconds,
            countIf(
                verb_id = {{ verb("interacted") }} and captions_enabled = true
            ) as captions_shown,
            countIf(
                verb_id = {{ verb("interacted") }} and captions_enabled = false
            ) as captions_hidden,
            countIf(
                verb_id = {{ verb("interacted") }} and video_speed_to is not null
            ) as speed_changes,
            countIf(
                verb_id = {{ verb("interacted") }} and video_speed_to > video_speed_from
            ) as speed_ups
        from interactions
        group by org, course_key, video_id, interaction_date
    )

select daily.*, touched_days.last_loaded_at as last_loaded_at
from daily
inner join touched_days using (org, course_key, interaction_date)
