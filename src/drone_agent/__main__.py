from drone_agent.cli import main

raise SystemExit(main())
