{#-
  Video engagement per video: plays, viewers, completions, and the segments watched.

  A watched segment is a play followed, for the same learner and video, by a pause or a
  completion: it runs from the video time of the play to that of the pause. A play followed
  by another play (or by nothing yet) has no known end and is not a segment; seeks inside a
  segment are not accounted for.
-#}
{{
    config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["org", "course_key", "video_id"],
        engine="MergeTree()",
        order_by="(org, course_key, video_id)",
    )
}}

with
    {{ touched_video_positions() }},

    with_next as (
        select
            *,
            leadInFrame(verb_id, 1, '') over learner_video as next_verb_id,
            leadInFrame(video_time) over learner_video as next_video_time,
            verb_id = {{ verb("played") }}
            and next_verb_id in {{ verbs(["paused", "completed"]) }}
            and video_time is not null
            and next_video_time >= video_time as closes_segment
        from video_statements
        window
            learner_video as (
                partition by org, course_key, video_id, actor_id
                order by emission_time, event_id
                rows between unbounded preceding and unbounded following
            )
    ),

    per_video as (
        select
            org,
            course_key,
            video_id,
            countIf(verb_id = {{ verb("played") }}) as plays,
            uniqExactIf(actor_id, verb_id in {{ verbs(["played", "completed"]) }}) as viewers,
            uniqExactIf(actor_id, verb_id = {{ verb("completed") }}) as completers,
            if(viewers = 0, 0, completers / viewers) as completion_rate,
            countIf(closes_segment) as watched_segments,
            sumIf(
                assumeNotNull(next_video_time) - assumeNotNull(video_time), closes_segment
            ) as watched_seconds,
            max(video_length) as video_length_seconds
        from with_next
        group by org, course_key, video_id
    )

select per_video.*, touched_videos.last_loaded_at as last_loaded_at
from per_video
inner join touched_videos using (org, course_key, video_id)
