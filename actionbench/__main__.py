from actionbench.cli import main

main()
