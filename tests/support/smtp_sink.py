"""The tests' SMTP server: aiosmtpd's Mailbox handler that can hold its reply to DATA.

While the file <maildir>.hold exists, each message is stored at once but the server's "250" reply to
it waits: the sender cannot know yet that the message was received. This opens, on purpose, the
window between an SMTP server's acceptance of a message and the sender's record of it.
"""

import asyncio
import os

from aiosmtpd.handlers import Mailbox


class HoldingMailbox(Mailbox):
    def __init__(self, maildir):
        super().__init__(maildir)
        self.hold_file = maildir.rstrip("/") + ".hold"

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        while os.path.exists(self.hold_file):
            await asyncio.sleep(0.05)
        return reply
