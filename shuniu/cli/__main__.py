from shuniu.cli import main

main()
