"""The one pipeline: plan() -> render_chunk() -> assemble() (plan-contract.md).

`planner.plan`, `chunk.render_chunk`, `assemble.assemble`, `verify.load_plan` and `config.RenderConfig`
are imported from their modules: the package re-exports nothing, so a worker that imports
hyperdesk.plan.chunk never loads the planner's compiler (lxml, tinycss2, fontTools) it does not run.
"""
