# virtual(5) for example.com: role addresses on top of the mailboxes.
postmaster@example.com  alice@example.com
abuse@example.com       alice@example.com
sales@example.com       alice@example.com, bob@example.com
