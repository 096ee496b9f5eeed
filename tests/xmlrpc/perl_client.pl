#!/usr/bin/perl
# perl_client.pl - a Perl RPC::XML client of managerd's XML-RPC endpoint,
# run by cross_language.py. The authkey (the HTTP Basic password) comes
# from MANAGERD_AUTHKEY.
#   perl_client.pl URL demo              dict operations; prints one JSON object
#   perl_client.pl URL put ID ITEM...    puts each ITEM into the queue ID
use strict;
use warnings;
use Encode ();
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use RPC::XML;
use RPC::XML::Client;

$RPC::XML::ALLOW_NIL = 1;
binmode STDOUT, ":encoding(UTF-8)";
my ($url, $cmd, @args) = map { Encode::decode('UTF-8', $_) } @ARGV;
my $key = $ENV{MANAGERD_AUTHKEY} // die "perl_client.pl: set MANAGERD_AUTHKEY\n";
my $client = RPC::XML::Client->new($url);
$client->useragent->default_header(Authorization => 'Basic ' . encode_base64("perl:$key", ''));

# One call: native Perl data, or {fault => [code, string]}.
sub call {
    my $resp = $client->send_request(@_);
    die "perl_client.pl: $_[0]: $resp\n" unless ref $resp;
    return {fault => [$resp->code, $resp->string]} if $resp->is_fault;
    return $resp->value;
}

if ($cmd eq 'put') {
    my $id = shift @args;
    for my $item (@args) {
        my $r = call('call', $id, 'put', [$item], {});
        die "perl_client.pl: put failed: @{$r->{fault}}\n" if ref $r eq 'HASH' && $r->{fault};
    }
    print JSON::PP->new->encode({put => scalar @args}), "\n";
    exit 0;
}

my %out;
my $created = call('create', 'dict', [], {});
my $id = $created->[0];
$out{exposes_getitem} = (grep { $_ eq '__getitem__' } @{$created->[1]}) ? JSON::PP::true : JSON::PP::false;
call('call', $id, '__setitem__', ['str', 'perl h' . chr(0xe9) . 'llo'], {});
call('call', $id, '__setitem__', ['int', RPC::XML::int->new(-42)], {});
call('call', $id, '__setitem__', ['double', RPC::XML::double->new(2.5)], {});
call('call', $id, '__setitem__', ['bool', RPC::XML::boolean->new(1)], {});
call('call', $id, '__setitem__', ['nil', RPC::XML::nil->new()], {});
call('call', $id, '__setitem__', ['array', [1, 'two', [3]]], {});
call('call', $id, '__setitem__', ['struct', {a => 1, b => ['x']}], {});
call('call', $id, '__setitem__', ['base64', RPC::XML::base64->new("\x00\xffbin")], {});
call('call', $id, '__setitem__', ['i8', RPC::XML::i8->new('1099511627776')], {});
my $copy = call('call', $id, 'copy', [], {});
$copy->{base64} = encode_base64($copy->{base64}, '');
$out{copy} = $copy;
$out{len} = call('call', $id, '__len__', [], {});
$out{missing} = call('call', $id, '__getitem__', ['missing'], {})->{fault};
$out{nomethod} = call('nope')->{fault};
$out{multicall} = call('system.multicall', [
    {methodName => 'call', params => [$id, '__len__', [], {}]},
    {methodName => 'call', params => [$id, '__getitem__', ['missing'], {}]}]);
call('decref', $id);
$out{after_decref} = call('call', $id, '__len__', [], {})->{fault};
$out{id} = $id;
print JSON::PP->new->canonical->encode(\%out), "\n";
