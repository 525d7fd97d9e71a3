{#-
  Each learner's view of each video: the plays, how many times each tenth of the video was
  watched, and whether the view is full or partial.

  - A watched segment is a play followed, for the same learner and video, by a pause or a
    completion, as in video_engagement: from the video time of the play to that of the pause.
  - The video is cut into ten equal parts by its length (the longest length its statements
    report). A segment watches the parts it overlaps by more than an instant; part_views[i]
    counts the segments that watched the i-th tenth (from 1). A part watched more than once
    by the same learner is re-watched.
  - A view is full when the learner completed the video (the player reached its end: a
    completed statement) or watched every tenth of it; partial otherwise.
  - A row for each learner who played or completed the video.
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["org", "course_key", "video_id"],
        engine="MergeTree()",
        order_by="(org, course_key, video_id, actor_id)",
    )
}}

{%- set parts = 10 %}

with
    {{ touched_video_positions() }},

    segments as (
        select
            org,
            course_key,
            video_id,
            actor_id,
            verb_id,
            coalesce(max(video_length) over video, 0) as length_seconds,
            assumeNotNull(video_time) as segment_start,
            assumeNotNull(leadInFrame(video_time) over learner_video) as segment_end,
            verb_id = {{ verb("played") }}
            and leadInFrame(verb_id, 1, '') over learner_video in {{ verbs(["paused", "completed"]) }}
            and video_time is not null
            and leadInFrame(video_time) over learner_video > video_time as watches
        from video_statements
        window
            video as (
                partition by org, course_key, video_id
                rows between unbounded preceding and unbounded following
            ),
            learner_video as (
                partition by org, course_key, video_id, actor_id
                order by emission_time, event_id
                rows between unbounded preceding and unbounded following
            )
    ),

    per_learner as (
        select
            org,
            course_key,
            video_id,
            actor_id,
            countIf(verb_id = {{ verb("played") }}) as plays,
            toBool(countIf(verb_id = {{ verb("completed") }}) > 0) as completed,
            max(length_seconds) as video_length_seconds,
            -- Part p (from 0) spans [p, p + 1) tenths of the length.
            arrayMap(
                views -> toUInt32(views),
                sumForEach(
                    arrayMap(
                        part -> toUInt32(
                            watches
                            and segment_start < (part + 1) * length_seconds / {{ parts }}
                            and segment_end > part * length_seconds / {{ parts }}
                        ),
                        range({{ parts }})
                    )
                )
            ) as part_views,
            toUInt8(arrayCount(views -> views > 0, part_views)) as watched_parts,
            toUInt8(arrayCount(views -> views > 1, part_views)) as rewatched_parts,
            toBool(completed or watched_parts = {{ parts }}) as full_view
        from segments
        group by org, course_key, video_id, actor_id
        having actor_id != '' and (plays > 0 or completed)
    )

select per_learner.*, touched_videos.last_loaded_at as last_loaded_at
from per_learner
inner join touched_videos using (org, course_key, video_id)
