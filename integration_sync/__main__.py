from integration_sync.cli import main

main()
