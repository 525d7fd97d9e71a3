{#-
  One row per block of each course, from the course's latest dump (event sink course_blocks):
  its name, type, place in the outline and a readable location, "Section › Subsection › Block",
  made of the names of the section and subsection it is in.

  - Only the latest dump of a course counts: a block deleted from the course, or renamed, is
    gone from it or renamed here; a dump inserted twice counts once.
  - section, subsection and unit are the numbers the CMS gives the block's section (chapter),
    subsection (sequential) and unit (vertical), from 1; 0 above that level (the course, a
    section) or outside the outline (static tabs, detached blocks).
  - graded: the block is graded, or is in a graded subsection (the platform grades problems
    through their subsection).

  A table rebuilt on each run, like course_names.
-#}
{{
    config(
        materialized="table",
        engine="MergeTree()",
        order_by="(org, course_key, block_id)",
    )
}}

with
    latest_dumps as (
        select org, course_key, argMax(dump_id, {{ dump_order() }}) as latest_dump_id
        from {{ source("event_sink", "course_blocks") }}
        where course_key != ''
        group by org, course_key
    ),

    blocks as (
        select
            org,
            course_key,
            location as block_id,
            -- A block without a name shows its type and id rather than nothing.
            if(
                display_name = '',
                concat(block_type, ' ', extract(location, 'block@([^+/?#]+)$')),
                display_name
            ) as block_name,
            block_type,
            section,
            subsection,
            unit,
            `order` as block_order,
            graded as own_graded,
            dump_id,
            time_last_dumped
        from {{ source("event_sink", "course_blocks") }}
        where
            (org, course_key, dump_id) in (
                select org, course_key, latest_dump_id from latest_dumps
            )
        limit 1 by org, course_key, location
    ),

    sections as (
        select org, course_key, section, argMin(block_name, block_order) as section_name
        from blocks
        where block_type = 'chapter' and section > 0
        group by org, course_key, section
    ),

    subsections as (
        select
            org,
            course_key,
            section,
            subsection,
            argMin(block_name, block_order) as subsection_name,
            max(own_graded) as subsection_graded
        from blocks
        where block_type = 'sequential' and subsection > 0
        group by org, course_key, section, subsection
    )

select
    blocks.org as org,
    blocks.course_key as course_key,
    blocks.block_id as block_id,
    blocks.block_name as block_name,
    blocks.block_type as block_type,
    blocks.section as section,
    blocks.subsection as subsection,
    blocks.unit as unit,
    blocks.block_order as block_order,
    toBool(
        blocks.own_graded
        or (blocks.subsection > 0 and coalesce(subsections.subsection_graded, false))
    ) as graded,
    coalesce(sections.section_name, '') as section_name,
    coalesce(subsections.subsection_name, '') as subsection_name,
    -- The block's own level is left out: a section is not "Week 1 › Week 1".
    arrayStringConcat(
        arrayFilter(
            part -> part != '',
            [
                if(blocks.block_type = 'chapter', '', section_name),
                if(blocks.block_type = 'sequential', '', subsection_name),
                blocks.block_name
            ]
        ),
        ' › '
    ) as location_label,
    blocks.dump_id as dump_id,
    blocks.time_last_dumped as time_last_dumped
from blocks
left join
    sections
    on sections.org = blocks.org
    and sections.course_key = blocks.course_key
    and sections.section = blocks.section
left join
    subsections
    on subsections.org = blocks.org
    and subsections.course_key = blocks.course_key
    and subsections.section = blocks.section
    and subsections.subsection = blocks.subsection
