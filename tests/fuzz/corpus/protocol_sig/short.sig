police AAAA
# comment

