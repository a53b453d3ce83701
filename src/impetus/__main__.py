from impetus.cli import main

main()
