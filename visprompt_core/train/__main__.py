from visprompt_core.train.run import main

raise SystemExit(main())
