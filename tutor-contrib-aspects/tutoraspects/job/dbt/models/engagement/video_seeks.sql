{#-
  Where learners seek in each video, per course, video and day: how many seeks went from one
  second of the video to another, and how many learners made them. A chart of them shows the
  parts skipped (forward seeks: time_to > time_from) and watched again (backward).

  Positions are whole seconds, rounded down (video_time_from and video_time_to of the seeked
  statements event-routing-backends sends for seek_video).
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["org", "course_key", "seek_date"],
        engine="MergeTree()",
        order_by="(org, course_key, video_id, seek_date, time_from, time_to)",
    )
}}

with
    touched_days as (
        {% call touched(["toDate(emission_time) as seek_date"]) %}
            verb_id = {{ verb("seeked") }}
            and block_type = 'video'
        {% endcall %}
    ),

    -- Copies of a replayed statement need no removing: only distinct values are counted.
    seeks as (
        select
            event_id,
            org,
            course_key,
            block_id as video_id,
            toDate(emission_time) as seek_date,
            actor_id,
            toUInt32(greatest(floor(assumeNotNull(video_time_from)), 0)) as time_from,
            toUInt32(greatest(floor(assumeNotNull(video_time_to)), 0)) as time_to
        from {{ ref("xapi_events_parsed") }}
        where
            verb_id = {{ verb("seeked") }}
            and block_type = 'video'
            and video_time_from is not null
            and video_time_to is not null
            and (org, course_key, toDate(emission_time)) in (
                select org, course_key, seek_date from touched_days
            )
    ),

    daily as (
        select
            org,
            course_key,
            video_id,
            seek_date,
            time_from,
            time_to,
            toLowCardinality(
                multiIf(time_to > time_from, 'forward', time_to < time_from, 'backward', 'none')
            ) as direction,
            uniqExact(event_id) as seeks,
            uniqExact(actor_id) as learners
        from seeks
        group by org, course_key, video_id, seek_date, time_from, time_to
    )

select daily.*, touched_days.last_loaded_at as last_loaded_at
from daily
inner join touched_days using (org, course_key, seek_date)
