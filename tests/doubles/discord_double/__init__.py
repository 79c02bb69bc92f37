"""An in-process test double of the Discord API (REST + gateway) for discord.py.

The double is an :mod:`aiohttp` server on ``127.0.0.1`` (random free port) that
the *real* discord.py client talks to.  It models one bot application with one
test guild (more with :meth:`DiscordDouble.add_guild`) and lets a test act as
Discord users (messages, DMs, slash-command invocations) while recording
everything the bot puts on the wire.

Typical use::

    async with DiscordDouble() as double:
        bot = commands.Bot(command_prefix="!", intents=discord.Intents.default(),
                           guild_ready_timeout=0.05)
        async with double.running_bot(bot):
            sent = await double.send_message(double.general_id, double.member,
                                             f"<@{double.bot_user.id}> hi")
            reply = await double.wait_for_message(author_id=double.bot_user.id,
                                                  after=sent["id"])

Pointing discord.py at the double is done by :meth:`DiscordDouble.patch_discord`
(sets ``discord.http.Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY``);
:meth:`DiscordDouble.running_bot` does that for you.

Behaviour modelled on the real Discord (documented deviations are marked
"Simplification" in the docstrings):

* gateway: HELLO, IDENTIFY -> READY + GUILD_CREATE (one per guild the bot is
  in), GUILD_CREATE when the bot is added to a guild, GUILD_DELETE when it
  leaves one (``DELETE /users/@me/guilds/{id}``), heartbeat ACK, RESUME with
  replay of missed events -> RESUMED, INVALID_SESSION for unknown sessions,
  REQUEST_GUILD_MEMBERS -> GUILD_MEMBERS_CHUNK, ``zlib-stream`` and
  ``zstd-stream`` transport compression (as requested in the URL query),
  intent filtering and Message Content intent redaction;
* REST: the routes a bot typically uses (see :data:`routes._ROUTES`) with
  Discord's JSON error shapes; unknown routes answer 404 and are recorded;
* limits: message/embed length limits (400/50035), empty messages (50006),
  attachment count/size, the 3 s interaction acknowledgement deadline (10062),
  the 15 min follow-up window (50027), double acknowledgement (40060);
* fault injection: 429 rate limits (body + headers, optionally global) and
  arbitrary error statuses (e.g. 500) for the next N matching requests
  (optionally after letting the first M through).

The package: models.py (vocabulary and records), validation.py (Discord's refusals), double.py (state and
lifecycle) and one mixin per side: state.py (world and inspection), faults.py, gateway.py, users.py (acting as
users), rest.py (REST plumbing), routes.py and interactions.py (REST handlers and the route table).
"""

from .double import DiscordDouble
from .forums import GUILD_FORUM
from .models import (
    DM,
    GUILD_TEXT,
    MESSAGE_FLAG_EPHEMERAL,
    MESSAGE_FLAG_LOADING,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    FakeUser,
    GatewaySession,
    Intents,
    InteractionRecord,
    Limits,
    Permissions,
    RecordedFile,
    RecordedRequest,
    UploadedAttachment,
)
from .validation import (
    ApiError,
    InvalidFormBody,
    validate_commands,
    validate_message_payload,
)

__all__ = [
    "DiscordDouble",
    "FakeUser",
    "UploadedAttachment",
    "RecordedRequest",
    "RecordedFile",
    "InteractionRecord",
    "GatewaySession",
    "Limits",
    "Intents",
    "Permissions",
    "InvalidFormBody",
    "ApiError",
    "validate_message_payload",
    "validate_commands",
    "MESSAGE_FLAG_EPHEMERAL",
    "MESSAGE_FLAG_LOADING",
    "GUILD_TEXT",
    "DM",
    "PUBLIC_THREAD",
    "PRIVATE_THREAD",
    "GUILD_FORUM",
]
