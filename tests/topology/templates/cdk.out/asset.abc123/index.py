def handler(e, c):
    return None
