from hyperdesk.cli import main

raise SystemExit(main())
