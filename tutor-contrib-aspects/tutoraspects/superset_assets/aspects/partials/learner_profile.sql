{#- Included in the SQL of a dataset of learners, with ASPECTS_ENABLE_PII only: the LMS's
    profile of each learner of the table aliased `learners` (by its anonymous id, actor_id), as
    `profile` (username, name, email), from the event sink tables the LMS sends then. -#}
  LEFT JOIN (
      SELECT toString(external_user_id) AS actor_id, argMax(user_id, time_last_dumped) AS user_id
      FROM {{ ASPECTS_EVENT_SINK_DATABASE }}.external_id
      WHERE external_id_type = 'xapi'
      GROUP BY actor_id
  ) AS ids ON ids.actor_id = {{ learners }}.actor_id
  LEFT JOIN (
      SELECT
          user_id,
          argMax(username, time_last_dumped) AS username,
          argMax(name, time_last_dumped) AS name,
          argMax(email, time_last_dumped) AS email
      FROM {{ ASPECTS_EVENT_SINK_DATABASE }}.user_profile
      GROUP BY user_id
  ) AS profile ON profile.user_id = ids.user_id
