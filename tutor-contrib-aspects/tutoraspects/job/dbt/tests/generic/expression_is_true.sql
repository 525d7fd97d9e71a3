{#- Every row satisfies an SQL condition, e.g. correct_attempts <= attempts. -#}
{% test expression_is_true(model, expression) %}
    select * from {{ model }} where not ({{ expression }})
{% endtest %}
