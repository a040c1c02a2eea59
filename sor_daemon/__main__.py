from sor_daemon.cli import main

raise SystemExit(main())
