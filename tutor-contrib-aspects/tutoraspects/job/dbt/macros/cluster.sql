{#-
  Replicated tables on a cluster. With CLICKHOUSE_CLUSTER_NAME set, profiles.yml gives
  dbt-clickhouse its `cluster`, and it runs its DDL ON CLUSTER; this makes every table it creates
  (models, the target of xapi_events_parsed, the intermediate tables of incremental runs) use the
  replicated engine of its MergeTree family, so that each replica holds all the rows. Without a
  cluster the engines are those the models name.

  Two macros of dbt-clickhouse (1.10) are replaced here: engine_clause(), which every table it
  creates goes through (rather than each model naming its engine twice), and
  clickhouse__incremental_delete_insert, which on a cluster waits for every replica to hold the
  new rows before deleting the old ones. tests/reliability/test_cluster.py checks both on what
  dbt sends.
-#}

{% macro engine_clause() -%}
  engine = {{ aspects_replicated_engine(config.get('engine', default='MergeTree()')) }}
{%- endmacro %}


{% macro aspects_replicated_engine(engine) -%}
    {#- ReplacingMergeTree(v) -> ReplicatedReplacingMergeTree(v) on a cluster. Without arguments,
        replicated engines take the server's default_replica_path and default_replica_name. -#}
    {%- set name = engine | trim -%}
    {%- set family = name.split('(')[0] | trim -%}
    {%- if adapter.get_clickhouse_cluster_name() is not none
        and family.endswith('MergeTree') and not family.startswith('Replicated') -%}
        Replicated{{ name }}
    {%- else -%}
        {{ name }}
    {%- endif -%}
{%- endmacro %}


{% macro clickhouse__incremental_delete_insert(existing_relation, unique_key, incremental_predicates, is_distributed=False) %}
    {#- dbt-clickhouse 1.10.3's delete+insert, with one step added on a cluster: before the
        delete, every replica fetches the new rows (SYSTEM SYNC REPLICA … ON CLUSTER). The
        delete is a replicated mutation that each replica runs on its own, and its subquery
        reads that replica's copy of the new rows: without the sync, a replica that has not
        fetched them yet deletes nothing, and then gets the new rows as well as the old ones
        (dbt-clickhouse issue 740). -#}
    {% set new_data_relation = existing_relation.incorporate(path={"identifier": existing_relation.identifier
       + '__dbt_new_data_' + invocation_id.replace('-', '_')}) %}
    {{ drop_relation_if_exists(new_data_relation) }}
    {%- set distributed_new_data_relation = existing_relation.incorporate(path={"identifier": existing_relation.identifier + '__dbt_distributed_new_data'}) -%}

    {%- set inserting_relation = new_data_relation -%}

    {%- set local_suffix = adapter.get_clickhouse_local_suffix() -%}
    {%- set local_db_prefix = adapter.get_clickhouse_local_db_prefix() -%}

    {% if is_distributed %}
      -- Need to use distributed table to have data on all shards
      {%- set inserting_relation = distributed_new_data_relation -%}
      {{ create_distributed_local_table(distributed_new_data_relation, new_data_relation, existing_relation, sql) }}
    {% else %}
      {% call statement('main') %}
        {{ get_create_table_as_sql(False, new_data_relation, sql) }}
      {% endcall %}
      {% if adapter.get_clickhouse_cluster_name() is not none %}
        {% call statement('sync_new_data') %}
          system sync replica {{ on_cluster_clause(existing_relation) }} {{ new_data_relation }}
        {% endcall %}
      {% endif %}
    {% endif %}

    {% call statement('delete_existing_data') %}
      {%- set subquery_settings = ' settings select_sequential_consistency = 1' if target.database_engine == 'Shared' else '' -%}
      {% if is_distributed %}
          {% set existing_local = existing_relation.incorporate(path={"identifier": this.identifier + local_suffix, "schema": local_db_prefix + this.schema}) if existing_relation is not none else none %}
            delete from {{ existing_local }} {{ on_cluster_clause(existing_relation) }} where ({{ unique_key }}) in (select {{ unique_key }}
                                          from {{ inserting_relation }}{{ subquery_settings }})
      {% else %}
            delete from {{ existing_relation }} where ({{ unique_key }}) in (select {{ unique_key }}
                                          from {{ inserting_relation }}{{ subquery_settings }})
      {% endif %}
      {%- if incremental_predicates %}
        {% for predicate in incremental_predicates %}
            and {{ predicate }}
        {% endfor %}
      {%- endif -%}
      {{ adapter.get_model_query_settings(model) }}
    {% endcall %}

    {%- set dest_columns = adapter.get_columns_in_relation(existing_relation) -%}
    {%- set dest_cols_csv = dest_columns | map(attribute='quoted') | join(', ') -%}
    {% call statement('insert_new_data') %}
        insert into {{ existing_relation }} select {{ dest_cols_csv }} from {{ inserting_relation }} {{ adapter.get_model_query_settings(model) }}
    {% endcall %}
    {% do adapter.drop_relation(new_data_relation) %}
    {{ drop_relation_if_exists(distributed_new_data_relation) }}
{% endmacro %}
