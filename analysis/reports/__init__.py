"""The report runner: plan -> fingerprint -> jobs (engine, executors) -> record -> render ->
publish -> site pages.

Rooms (import them directly; this package stays import-free):

``options``      BuildOptions: every build option and its default, once (the CLI reads them)
``plan``         load_plan(), select(), adhoc_report(), report_name(), PlanError
``parameters``   the parameters cell read as papermill reads it; check_parameters(), parse_params()
``kernelspecs``  kernel_for(), check_installed(): the notebook's kernel, or --kernel; installed?
``fingerprint``  input_hashes(), shared_hashes(), unchanged(): is a report unchanged?
``data_check``   validate(), InvalidData: the data checked before any kernel, once per data
``engine``       the papermill engine "roundup" (entry point): report deadline, output limit
``job``          Job, run_report() (the one job function), run_report_returning_files()
``outcome``      the error of an executed notebook (RunError) and where it shows
``record``       RunRecord / RunError: run.json written and read in one place
``render``       a run's HTML page (nbconvert + templates/report.html.j2), fallback page
``executors``    LocalExecutor (processes), DaskExecutor, make_executor()
``worker_preload`` what the workers' fork server imports once (quiet under Ctrl-C)
``summary``      BuildEvent (progress as it goes), BuildSummary (what a build did)
``kernels``      the fork-server kernel (a fresh kernel forked from a preloaded server):
                 protocol, client, server, child, provisioner
``publish``      atomic writes, runs/<run-id>/, the latest link, retention, sweeping leftovers
``site``         index.html + index.json, datasets.html (Jinja templates in templates/)
``signals``      SIGINT/SIGTERM during a build: BuildInterrupted, held back while publishing
``bounds``       fit(): the executed notebook and the page within --max-output bytes
``build``        Build: lock, signals, plan -> jobs -> publish -> site; build(), BuildSummary
"""
