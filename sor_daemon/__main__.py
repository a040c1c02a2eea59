from sor_daemon.tools.cli import main

raise SystemExit(main())
