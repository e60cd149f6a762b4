# SPDX-License-Identifier: GPL-3.0-or-later
# End-to-end test: the real tailor process driven only through the accessibility tree (AT-SPI),
# as a user would click, from a new project to a finished training run on lavapipe (Mesa's
# Vulkan in software), chosen under Advanced.
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import warnings

import gi

gi.require_version('Atspi', '2.0')
from gi.repository import Atspi  # noqa: E402

# libatspi 2.46 deprecates the get_*_iface accessors that its own Python bindings still need.
warnings.filterwarnings('ignore', category=DeprecationWarning)

TIMEOUT = 60.0
STEP_DELAY = 0.3


class Failure(Exception):
    pass


STARTED = time.monotonic()


def log(message):
    print('# %5.1f s  %s' % (time.monotonic() - STARTED, message), flush=True)


def plain(name):
    return (name or '').replace('_', '')


def name_matches(node, name):
    """GTK 4.8 names a button by its mnemonic label followed by the label's text."""
    text = plain(node.get_name())
    return text == name or text.startswith(name + ' ') or text.endswith(' ' + name)


def children(node):
    try:
        count = node.get_child_count()
    except gi.repository.GLib.Error:
        return []
    result = []
    for i in range(count):
        try:
            child = node.get_child_at_index(i)
        except gi.repository.GLib.Error:
            child = None
        if child is not None:
            result.append(child)
    return result


def walk(node):
    yield node
    for child in children(node):
        yield from walk(child)


def role_of(node):
    try:
        return node.get_role_name()
    except gi.repository.GLib.Error:
        return ''


def showing(node):
    """GTK 4.8 sets no SHOWING state; a widget laid out on screen has an area there."""
    try:
        if not node.get_state_set().contains(Atspi.StateType.VISIBLE):
            return False
        box = node.get_extents(Atspi.CoordType.WINDOW)
    except gi.repository.GLib.Error:
        return False
    return box.width > 0 and box.height > 0


def sensitive(node):
    return node.get_state_set().contains(Atspi.StateType.SENSITIVE)


def text_of(node):
    iface = node.get_text_iface()
    if iface is None:
        return plain(node.get_name())
    return iface.get_text(0, iface.get_character_count())


def description(node):
    return node.get_description() or ''


def wait_until(what, probe, timeout=TIMEOUT):
    """Polls probe until it returns something true; fails naming what the user waited for."""
    end = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except gi.repository.GLib.Error:
            value = None
        if value:
            return value
        if time.monotonic() > end:
            raise Failure('waited %.0f s for %s' % (timeout, what))
        time.sleep(0.2)


class App:
    def __init__(self, process):
        self.process = process
        self.root = wait_until('the tailor application on the accessibility bus', self._lookup)

    def _lookup(self):
        desktop = Atspi.get_desktop(0)
        for app in children(desktop):
            try:
                if app.get_process_id() == self.process.pid:
                    return app
            except gi.repository.GLib.Error:
                continue
        return None

    def check_alive(self):
        if self.process.poll() is not None:
            raise Failure('tailor exited with status %d' % self.process.returncode)

    def toplevel(self, role, name):
        def probe():
            self.check_alive()
            for window in children(self.root):
                if role_of(window) == role and name_matches(window, name):
                    return window
            return None
        return wait_until('the %s “%s”' % (role, name), probe)

    def find_all(self, scope, role, name):
        roles = (role,) if isinstance(role, str) else role
        return [node for node in walk(scope)
                if role_of(node) in roles and name_matches(node, name)]

    def find(self, scope, role, name, timeout=TIMEOUT):
        """The shown node with this role and name (pages not shown stay in the tree)."""
        def probe():
            self.check_alive()
            for node in self.find_all(scope, role, name):
                if showing(node):
                    return node
            return None
        return wait_until('a shown %s “%s”' % (role, name), probe, timeout)

    def find_text(self, scope, role, predicate, what, timeout=TIMEOUT):
        def probe():
            self.check_alive()
            for node in walk(scope):
                if role_of(node) == role and showing(node) and predicate(text_of(node)):
                    return node
            return None
        return wait_until(what, probe, timeout)


def press(node):
    """Clicks a control: its own click/activate action, else the pointer at its centre."""
    action = node.get_action_iface()
    if action is not None:
        for i in range(action.get_n_actions()):
            if action.get_action_name(i) in ('click', 'activate', 'press', 'toggle'):
                action.do_action(i)
                time.sleep(STEP_DELAY)
                return
    box = node.get_extents(Atspi.CoordType.SCREEN)
    if box.width <= 0 or box.height <= 0:
        raise Failure('“%s” has no area on screen to click' % plain(node.get_name()))
    Atspi.generate_mouse_event(box.x + box.width // 2, box.y + box.height // 2, 'b1c')
    time.sleep(STEP_DELAY)


def press_until(what, node, done, tries=3):
    """Clicks with the pointer, again if the click was lost (the server was still busy)."""
    for attempt in range(tries):
        press(node)
        try:
            return wait_until(what, done, 5)
        except Failure:
            log('click %d for %s was lost; clicking again' % (attempt + 1, what))
            continue
    raise Failure('clicked %d times and still waiting for %s' % (tries, what))


def assert_sensitive(node, expected=True):
    if sensitive(node) != expected:
        raise Failure('“%s” is %s' % (plain(node.get_name()),
                                       'insensitive' if expected else 'sensitive'))


def row_text(node):
    """Everything a row shows: its labels' text, joined."""
    return ' | '.join(text_of(n) for n in walk(node) if role_of(n) == 'label')


# ---- Fixtures ----

RECORDS = [
    ('How do I reset my password?',
     'Open Settings, choose Account, then press Reset password and follow the link we send you.'),
    ('Can I change the delivery address after ordering?',
     'Yes, until the parcel ships: open the order and press Change address.'),
    ('Who do I contact about an invoice?',
     'Write to billing.team@example.com with the invoice number and we answer within a day.'),
    ('How do I reset my password?',
     'Open Settings, choose Account, then press Reset password and follow the link we send you.'),
    ('Do you ship to Norway?',
     'We ship to every country in the European Economic Area, Norway included.'),
    ('Can I pay by bank transfer?',
     'Bank transfer works for orders above fifty euros; the details are printed on every invoice.'),
    ('How long does a refund take?',
     'Refunds reach your account five to ten working days after we receive the returned parcel.'),
    ('Where is my parcel?',
     'The tracking link in your shipping email shows where it is; it updates every few hours.'),
    ('Can I return a gift without the receipt?',
     'Yes: the order number on the packing slip is enough, and the refund goes to a voucher.'),
    ('Do you offer student discounts?',
     'Students get ten percent off after confirming their status once through our partner page.'),
    ('What sizes do the winter boots come in?',
     'The winter boots come in sizes 36 to 47, and half sizes are available from 38 upwards.'),
    ('Is the jacket waterproof?',
     'The jacket is rated to ten thousand millimetres, so it stays dry in heavy rain for hours.'),
    ('How do I cancel my subscription?',
     'Under Account, open Subscriptions and press Cancel; it ends at the close of the period.'),
    ('Can I change the name on my account?',
     'Open Profile, edit the name field and save; invoices from then on carry the new name.'),
    ('Why was my card declined?',
     'Banks decline cards for limits or security checks; call your bank or try another card.'),
    ('Do gift cards expire?',
     'Gift cards stay valid for three years from the day they were bought, then they lapse.'),
    ('Can I pick up my order in a store?',
     'Choose Click and Collect at checkout and pick the store; we message you when it is ready.'),
    ('How do I clean leather shoes?',
     'Wipe them with a damp cloth, let them dry away from heat, then apply a neutral cream.'),
    ('Are your products tested on animals?',
     'No product of ours is tested on animals, and our suppliers sign the same commitment.'),
    ('What happens if an item arrives damaged?',
     'Send us a photo within fourteen days and we ship a replacement or refund you in full.'),
    ('Can I order by phone?',
     'Phone orders are taken on weekdays from nine to five; the number is on the contact page.'),
    ('Do you have a loyalty programme?',
     'Every euro spent earns a point, and one hundred points turn into a five euro voucher.'),
    ('How are delivery costs calculated?',
     'Delivery is free above forty euros; below that it costs a flat four euros ninety.'),
    ('Can I reserve an item before buying it?',
     'Reservations are not possible online, but a store can hold an item for you for a day.'),
    ('Do you repair zips on bags?',
     'Our partner workshop repairs zips within two weeks; the first repair costs nothing.'),
    ('Which payment methods do you accept?',
     'We take debit and credit cards, PayPal, Klarna invoices and bank transfers.'),
    ('Can I exchange a colour instead of returning?',
     'Start a return and choose Exchange; the new colour ships once the first item is scanned.'),
    ('Is there a warranty on watches?',
     'Every watch carries a two year warranty that covers the movement but not the strap.'),
    ('How do I unsubscribe from the newsletter?',
     'Each newsletter ends with an unsubscribe link; one click removes you from the list.'),
    ('Do you sell children’s clothing?',
     'Children’s clothing runs from size 92 to 164 in the Kids section of the shop.'),
    ('Why is my discount code not working?',
     'Codes work once per account and not on sale items; check the expiry date in the email.'),
]


def write_documents(folder):
    path = os.path.join(folder, 'support.jsonl')
    with open(path, 'w', encoding='utf-8') as out:
        for question, answer in RECORDS:
            record = {'messages': [{'role': 'user', 'content': question},
                                   {'role': 'assistant', 'content': answer}]}
            out.write(json.dumps(record) + '\n')
    return path


def lavapipe_name(cli):
    """The name of Mesa's software Vulkan device (lavapipe), as tailor-cli lists it, or None."""
    listed = subprocess.run([cli, 'devices', '--json'], check=True, capture_output=True,
                            text=True).stdout
    for device in json.loads(listed):
        if (device.get('backend') == 'vulkan' and device.get('type') == 'cpu'
                and device.get('usable')):
            return device['name']
    return None


def write_ollama_store(cli, home):
    """An Ollama store as Ollama lays it out: a manifest naming a content-addressed blob."""
    models = os.path.join(home, '.ollama', 'models')
    blobs = os.path.join(models, 'blobs')
    manifests = os.path.join(models, 'manifests', 'registry.ollama.ai', 'library', 'tinyllama')
    os.makedirs(blobs)
    os.makedirs(manifests)
    incoming = os.path.join(blobs, 'incoming')
    subprocess.run([cli, 'make-test-model', '--arch', 'llama', '--type', 'q8_0', '--seed', '3',
                    '--vocab-size', '400', incoming], check=True, stdout=subprocess.DEVNULL)
    with open(incoming, 'rb') as blob:
        sha = hashlib.sha256(blob.read()).hexdigest()
    blob = os.path.join(blobs, 'sha256-' + sha)
    os.rename(incoming, blob)
    manifest = {
        'schemaVersion': 2,
        'mediaType': 'application/vnd.docker.distribution.manifest.v2+json',
        'config': {'mediaType': 'application/vnd.docker.container.image.v1+json',
                   'digest': 'sha256:' + '0' * 63 + '7', 'size': 485},
        'layers': [{'mediaType': 'application/vnd.ollama.image.model',
                    'digest': 'sha256:' + sha, 'size': os.path.getsize(blob)}],
    }
    with open(os.path.join(manifests, 'latest'), 'w', encoding='utf-8') as out:
        json.dump(manifest, out)
    return sha


# ---- The journey ----

def create_project(app, frame):
    press(app.find(frame, 'push button', 'New Project'))
    dialog = app.toplevel('dialog', 'New Project')
    entry = app.find(dialog, 'text', 'Project name')
    entry.get_editable_text_iface().set_text_contents('Support replies')
    create = app.find(dialog, 'push button', 'Create')
    assert_sensitive(create)
    press(create)
    app.find_text(frame, 'label', lambda t: t == 'Step 1 of 7: Goal', 'the Goal step')
    log('project created, on the Goal step')


def choose_goal(app, frame):
    next_button = app.find(frame, 'push button', 'Next step')
    assert_sensitive(next_button, False)
    press_until('the Tone and clarity box to be checked',
                app.find(frame, 'check box', 'Tone and clarity'),
                lambda: app.find(frame, 'check box', 'Tone and clarity').get_state_set().contains(
                    Atspi.StateType.CHECKED))
    wait_until('Next to become available', lambda: sensitive(next_button))
    press(next_button)
    app.find_text(frame, 'label', lambda t: t == 'Step 2 of 7: Model', 'the Model step')
    log('goal chosen, on the Model step')


def pick_model(app, frame, sha):
    row = app.find(frame, 'list item', 'tinyllama:latest')
    press(row)
    app.find_text(frame, 'label', lambda t: t == sha, 'the pinned SHA-256 of the model')
    app.find_text(frame, 'label', lambda t: t == 'llama', 'the architecture “llama”')
    next_button = app.find(frame, 'push button', 'Next step')
    wait_until('Next to become available', lambda: sensitive(next_button))
    press(next_button)
    app.find_text(frame, 'label', lambda t: t == 'Step 3 of 7: Documents', 'the Documents step')
    log('model picked and fingerprinted, on the Documents step')


def import_documents(app, frame, path):
    press(app.find(frame, 'push button', 'Add files to import'))
    chooser = app.toplevel('filler', 'Add Documents')
    # GTK 4.8 exposes no rows of the chooser's file list; a user types the file's location
    # instead: “/” opens the location entry, which takes the whole path.
    app.find(chooser, 'push button', 'Open')

    def location_entry():
        return next((n for n in walk(chooser) if role_of(n) == 'text' and showing(n)
                     and n.get_editable_text_iface() is not None), None)

    location = None
    for _ in range(5):
        Atspi.generate_keyboard_event(ord('/'), None, Atspi.KeySynthType.SYM)
        try:
            location = wait_until('the location entry of the file chooser', location_entry, 5)
            break
        except Failure:
            continue
    if location is None:
        raise Failure('typing “/” in the file chooser opened no location entry')
    location.get_editable_text_iface().set_text_contents(path)
    press(app.find(chooser, 'push button', 'Open'))
    app.find_text(frame, 'label', lambda t: t == 'support.jsonl', 'the file listed to import')
    import_button = app.find(frame, 'push button', 'Import the files listed')
    assert_sensitive(import_button)
    press(import_button)
    app.find_text(frame, 'label', lambda t: t == '1 exact, 0 near duplicates',
                  'the duplicate count “1 exact, 0 near duplicates”')
    app.find_text(frame, 'label', lambda t: t == 'Email addresses', 'the email finding')
    finding = app.find_text(frame, 'label',
                            lambda t: t.startswith('1 found') and 'support.jsonl:3' in t,
                            'the email found on line 3')
    log('report: %s' % text_of(finding))
    shown = [text_of(n) for n in walk(frame) if role_of(n) == 'label' and showing(n)]
    if any('billing.team' in t for t in shown):
        raise Failure('the email address itself is shown')
    app.find_text(frame, 'label', lambda t: t == 'Redact', 'the default choice “Redact”')
    log('imported: one duplicate removed, one email address found, redaction kept')


def reach_train(app, frame):
    next_button = app.find(frame, 'push button', 'Next step')
    wait_until('Next to become available', lambda: sensitive(next_button))
    press(next_button)
    app.find_text(frame, 'label', lambda t: t == 'Step 4 of 7: Checks', 'the Checks step')
    app.find_text(frame, 'label', lambda t: t == 'Checks Is Not Available Yet',
                  'the Checks step saying it is not built')
    # Checks verifies nothing yet and says so; the user may go on to training.
    wait_until('Next to be available on Checks', lambda: sensitive(next_button))
    log('on the Checks step')
    press(next_button)


def checked(node):
    return node.get_state_set().contains(Atspi.StateType.CHECKED)


def scroll_into_view(frame, node):
    """Scrolls the page under the pointer, as a user would, until node lies inside the window."""
    window = frame.get_extents(Atspi.CoordType.SCREEN)
    for _ in range(40):
        box = node.get_extents(Atspi.CoordType.SCREEN)
        if box.y >= window.y + 60 and box.y + box.height <= window.y + window.height - 10:
            return
        below = box.y + box.height > window.y + window.height
        Atspi.generate_mouse_event(window.x + window.width * 2 // 3,
                                   window.y + window.height // 2, 'b5c' if below else 'b4c')
        time.sleep(0.1)
    raise Failure('scrolling did not bring “%s” into the window' % plain(node.get_name()))


def chart_points(chart):
    """How many training-loss points the chart's accessible description says it has."""
    text = description(chart)
    match = re.search(r'Training loss: (\d+) points?, latest value', text)
    return int(match.group(1)) if match else 0


def choose_device(app, frame, device):
    """Advanced → Device → the lavapipe device, by pointer like a user."""
    choices = ('radio button', 'check box')
    header = next((n for n in app.find_all(frame, 'list item', 'Device') if showing(n)), None)
    if header is None:
        header = app.find_text(frame, 'label', lambda t: t == 'Device', 'the Device expander')
    scroll_into_view(frame, header)
    press_until('the Device section to open', header,
                lambda: any(showing(n) for n in app.find_all(frame, choices, 'Automatic')))
    log('Device section open')
    # The devices beyond Automatic and the processor come from `tailor-cli devices`.
    option = app.find(frame, choices, device)
    scroll_into_view(frame, option)
    press_until('%s to be chosen' % device, option,
                lambda: checked(app.find(frame, choices, device)))
    automatic = app.find(frame, choices, 'Automatic')
    if checked(automatic):
        raise Failure('Automatic is still chosen next to %s' % device)
    log('device chosen under Advanced: %s' % device)


def train(app, frame, device):
    app.find_text(frame, 'label', lambda t: t == 'Step 5 of 7: Train', 'the Train step')
    choices = ('radio button', 'check box')
    press_until('Quick to be chosen', app.find(frame, choices, 'Quick'),
                lambda: checked(app.find(frame, choices, 'Quick')))
    if checked(app.find(frame, choices, 'Balanced')):
        raise Failure('Balanced is still chosen next to Quick')
    if any(showing(n) for n in app.find_all(frame, 'image', 'Loss chart')):
        raise Failure('a loss chart is shown before any run')
    log('on the Train step, Quick chosen')
    choose_device(app, frame, device)
    start = app.find(frame, 'push button', 'Start Training')
    assert_sensitive(start)
    press(start)

    # The run says where it trains: the lavapipe device, named as Vulkan in software.
    shown = app.find_text(frame, 'label',
                          lambda t: '\n' in t and t.split('\n')[0] == device,
                          'the run to show it trains on %s' % device, 120)
    if 'Vulkan' not in text_of(shown):
        raise Failure('the device shown, %r, does not say it is a Vulkan device' % text_of(shown))
    log('device shown: %s' % text_of(shown).replace('\n', ' / '))

    chart = app.find(frame, 'image', 'Loss chart')
    seen = set()

    def gained(count):
        seen.add(chart_points(chart))
        return chart_points(chart) >= count

    wait_until('the loss chart to gain a point', lambda: gained(1), 120)
    log('loss chart: %s' % description(chart))
    wait_until('the loss chart to gain three points', lambda: gained(3), 120)
    log('loss chart: %s' % description(chart))
    app.find_text(frame, 'label', lambda t: t == 'Finished', 'the run to finish', 120)
    final = chart_points(chart)
    log('loss chart at the end: %s' % description(chart))
    if final < 3:
        raise Failure('the finished run left %d training-loss points in the chart' % final)
    log('point counts seen while it ran: %s' % sorted(seen))


def stop_trainers(data_dir):
    """A run outlives the window by design: a failed test stops the trainers it started."""
    runs = os.path.join(data_dir, 'runs')
    for run in os.listdir(runs) if os.path.isdir(runs) else []:
        try:
            with open(os.path.join(runs, run, 'child.pid'), encoding='utf-8') as pid_file:
                os.kill(int(pid_file.read().strip()), 15)
        except (OSError, ValueError):
            continue


def dump(node, depth=0, out=sys.stdout):
    """What the user sees, for the log of a failure: shown nodes, indented by depth."""
    if depth > 0 and not showing(node):
        for child in children(node):
            dump(child, depth + 1, out)
        return
    extra = ''
    if role_of(node) in ('label', 'text'):
        extra = ' text=%r' % text_of(node)
    if description(node):
        extra += ' description=%r' % description(node)
    out.write('%s%s %r%s\n' % ('  ' * depth, role_of(node), node.get_name(), extra))
    for child in children(node):
        dump(child, depth + 1, out)


def main():
    tailor, cli, schemas = (os.path.abspath(p) for p in sys.argv[1:4])
    shader_cache = os.path.abspath(sys.argv[4]) if len(sys.argv) > 4 else None
    device = lavapipe_name(cli)
    if device is None:
        print('1..0 # SKIP no usable lavapipe (Mesa software Vulkan) device: '
              'install mesa-vulkan-drivers')
        return 77
    root = tempfile.mkdtemp(prefix='tailor-e2e-')
    home = os.path.join(root, 'home')
    docs = os.path.join(home, 'Documents')
    os.makedirs(docs)
    sha = write_ollama_store(cli, home)
    documents = write_documents(docs)
    env = dict(os.environ)
    env.update({
        'HOME': home,
        'XDG_CONFIG_HOME': os.path.join(home, '.config'),
        'XDG_DATA_HOME': os.path.join(home, '.local', 'share'),
        'XDG_CACHE_HOME': os.path.join(home, '.cache'),
        'TAILOR_DATA_DIR': os.path.join(root, 'data'),
        'TAILOR_CACHE_DIR': os.path.join(root, 'cache'),
        'TAILOR_CLI': cli,
        'GSETTINGS_SCHEMA_DIR': schemas,
        'GSETTINGS_BACKEND': 'memory',
        'GDK_BACKEND': 'x11',
        'GSK_RENDERER': 'cairo',
        'GTK_A11Y': 'atspi',
        'NO_AT_BRIDGE': '0',
    })
    # llvmpipe compiles each compute pipeline on first use (about half a minute for a training
    # step here) and keeps the result in Mesa's disk cache; a user's machine keeps that cache
    # between runs, so the test keeps one in the build directory instead of in its fresh home.
    if shader_cache is not None:
        env['MESA_SHADER_CACHE_DIR'] = shader_cache
    # Animations off: a control is clicked where it rests, not half-way through a transition.
    os.makedirs(os.path.join(home, '.config', 'gtk-4.0'))
    with open(os.path.join(home, '.config', 'gtk-4.0', 'settings.ini'), 'w') as settings:
        settings.write('[Settings]\ngtk-enable-animations=false\n')
    app_log = open(os.path.join(root, 'tailor.log'), 'w')

    processes = []

    def launch():
        processes.append(subprocess.Popen([tailor], env=env, cwd=docs, stdout=app_log,
                                          stderr=subprocess.STDOUT))
        return App(processes[-1])

    app = None
    try:
        app = launch()
        frame = app.toplevel('frame', 'Tailor')
        create_project(app, frame)
        choose_goal(app, frame)
        pick_model(app, frame, sha)
        import_documents(app, frame, documents)
        reach_train(app, frame)
        train(app, frame, device)
        log('the whole journey is done')
        return 0
    except Failure as failure:
        print('not ok - %s' % failure)
        if app is not None:
            for window in children(app.root):
                dump(window)
        app_log.flush()
        with open(os.path.join(root, 'tailor.log'), encoding='utf-8', errors='replace') as text:
            sys.stdout.write(text.read()[-4000:])
        return 1
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        app_log.close()
        stop_trainers(env['TAILOR_DATA_DIR'])
        shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
