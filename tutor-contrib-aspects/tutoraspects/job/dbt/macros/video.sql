{% macro touched_video_positions() -%}
    {#- Two CTEs for the models recomputed per video (delete+insert on org, course_key,
        video_id): touched_videos, the videos that statements arrived for since the last run,
        and video_statements, every played, paused and completed statement about them, each
        statement once (a replayed one is there twice until its parts merge). -#}
    touched_videos as (
        select org, course_key, block_id as video_id, max(loaded_at) as last_loaded_at
        from {{ ref("xapi_events_parsed") }}
        where
            verb_id in {{ verbs(["played", "paused", "completed"]) }}
            and block_type = 'video'
            and course_key != ''
            and {{ arrived_since_last_run() }}
        group by org, course_key, video_id
    ),

    video_statements as (
        select
            event_id,
            org,
            course_key,
            block_id as video_id,
            actor_id,
            verb_id,
            emission_time,
            video_time,
            video_length
        from {{ ref("xapi_events_parsed") }}
        where
            verb_id in {{ verbs(["played", "paused", "completed"]) }}
            and block_type = 'video'
            and (org, course_key, block_id) in (
                select org, course_key, video_id from touched_videos
            )
        limit 1 by event_id
    )
{%- endmacro %}
