from authbridge.cli.main import main

main()
