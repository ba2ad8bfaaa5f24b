"""The report runner: plan -> jobs -> papermill -> nbconvert HTML -> run.json -> site index.

Submodules (import them directly; this package stays import-free):

``analysis.reports.plan``       load_plan(), select(), adhoc_report(), report_name(), PlanError
``analysis.reports.parameters`` the parameters cell, check_parameters(), parse_params(), ParameterError
``analysis.reports.run``        Job, run_report() (the job function), input_hashes()
``analysis.reports.executors``  LocalExecutor (processes), DaskExecutor, make_executor()
``analysis.reports.site``       build(), BuildSummary, SiteLocked, write_index()
"""
