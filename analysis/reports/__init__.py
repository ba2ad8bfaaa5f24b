"""The report runner: plan -> jobs -> papermill -> nbconvert HTML -> run.json -> site index.

Submodules (import them directly; this package stays import-free):

``analysis.reports.plan``       load_plan(), check_parameters(), select(), adhoc_report(), PlanError
``analysis.reports.run``        Job, run_report() (the job function), input_hashes()
``analysis.reports.executors``  LocalExecutor (processes), DaskExecutor, make_executor()
``analysis.reports.site``       build(), BuildSummary, SiteLocked, write_index()
"""
