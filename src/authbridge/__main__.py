from authbridge.cli import main

main()
