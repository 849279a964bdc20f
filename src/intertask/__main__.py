from intertask.cli import main

main()
